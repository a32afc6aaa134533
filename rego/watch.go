package rego

import (
	"context"
	"log/slog"
	"time"
)

// Watch polls the policy directory every Config.PollInterval and reloads
// when the files' revision changes. A revision that fails to compile is
// logged once, with the compile error, and the last good policy stays in
// force until a later edit fixes it. Input is never logged.
//
// Watch runs until ctx is done and then returns nil. For the embedded
// policies there is nothing to watch and it just waits for ctx. A nil log
// means slog.Default().
func (e *Evaluator) Watch(ctx context.Context, log *slog.Logger) error {
	if e.cfg.Dir == "" {
		<-ctx.Done()
		return nil
	}
	if log == nil {
		log = slog.Default()
	}
	log = log.With("policy_dir", e.cfg.Dir)
	t := time.NewTicker(e.cfg.PollInterval)
	defer t.Stop()
	var w watchState
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			e.poll(log, &w)
		}
	}
}

// watchState remembers what the watcher already reported, so a broken
// revision or an unreadable directory is logged once, not every second.
type watchState struct {
	badRevision string
	readErr     string
}

// poll reloads once if the files changed since the policy in force. Every
// outcome it reports is also recorded in Status; a success after a failure
// is logged as "policy restored".
func (e *Evaluator) poll(log *slog.Logger, w *watchState) {
	e.mu.Lock()
	defer e.mu.Unlock()
	files, err := e.src.read()
	if err != nil {
		if err.Error() != w.readErr {
			w.readErr = err.Error()
			e.state.loaded(e.now(), false, "", err)
			log.Error("cannot read policy files; keeping the policy in force",
				"revision", e.Revision(), "err", err)
		}
		return
	}
	w.readErr = ""
	current := e.Revision()
	if files.revision == current {
		// The files on disk are the policy in force again (a broken edit
		// was undone): nothing to compile, but the failure is over.
		if e.state.failing() {
			e.state.loaded(e.now(), false, current, nil)
			log.Info("policy restored", "revision", current)
		}
		w.badRevision = ""
		return
	}
	if files.revision == w.badRevision {
		return
	}
	// Compile with a background context: shutting down must not look like
	// a broken policy in the log.
	wasFailing := e.state.failing()
	err = e.install(context.Background(), files)
	e.state.loaded(e.now(), false, files.revision, err)
	if err != nil {
		w.badRevision = files.revision
		log.Error("policy reload failed; keeping the last good policy",
			"revision", current, "bad_revision", files.revision, "err", err)
		return
	}
	w.badRevision = ""
	engine, why := e.cur.Load().engine()
	if wasFailing {
		log.Info("policy restored", "revision", files.revision, "previous_revision", current, "engine", engine)
	} else {
		log.Info("policy reloaded", "revision", files.revision, "previous_revision", current, "engine", engine)
	}
	if why != "" && why != "configured" {
		log.Warn("the policy runs on OPA's evaluator, not the compiled engine", "revision", files.revision, "why", why)
	}
}
