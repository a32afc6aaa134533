package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tfgate/tfgate/authz"
	"github.com/tfgate/tfgate/rego"
)

// candidateGrants changes two grants of the e2e policy: ml-engineers lose
// the label "stable" (allow -> deny for alice's labelled calls) and sales
// gain predict on half_plus_three (deny -> allow for bob).
const candidateGrants = `
tfgate:
  grants:
    ml-engineers:
      - models: [half_plus_two]
        versions: [1]
        apis: ["*"]
    sales:
      - models: [half_plus_three]
        versions: ["*"]
        apis: [predict]
  admin_groups: []
`

// TestReplayAndShadowAgree is the done-when for replay and shadow
// mode: traffic recorded through the Envoy emulator, a grant changed,
// `policy replay`'s engine on the recorded log gives exactly the expected
// flips, and a shadow policy running live reports the same decisions.
func TestReplayAndShadowAgree(t *testing.T) {
	candidateDir := policyDir(t)
	if err := os.WriteFile(filepath.Join(candidateDir, "data.yaml"), []byte(candidateGrants), 0o644); err != nil {
		t.Fatal(err)
	}
	candidate, err := rego.Load(context.Background(), candidateDir, rego.Verification{}, 0)
	if err != nil {
		t.Fatal(err)
	}
	var shadowLog lockedBuffer
	shadow := authz.NewShadow(authz.ShadowConfig{Candidate: candidate, Log: slog.New(slog.NewJSONHandler(&shadowLog, nil))})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go shadow.Run(ctx)
	s := startStackWith(t, shadow)

	traffic := []struct {
		path, token string
		status      int // live answer, unchanged by the shadow policy
		flip        string
	}{
		{"/v1/models/half_plus_two/versions/1:predict", aliceToken, 200, ""},
		{"/v1/models/half_plus_two/labels/stable:predict", aliceToken, 200, authz.AllowToDeny},
		{"/v1/models/half_plus_three:predict", bobToken, 403, authz.DenyToAllow},
		{"/v1/models/half_plus_two/versions/1:predict", bobToken, 403, ""},
		{"/v1/models/half_plus_three:predict", aliceToken, 403, ""},
		{"/v1/models/half_plus_two/labels/stable:predict", aliceToken, 200, authz.AllowToDeny},
		{"/v1/models/half_plus_three:predict", bobToken, 403, authz.DenyToAllow},
		{"/v1/models/half_plus_three:predict", bobToken, 403, authz.DenyToAllow},
		{"/v1/models/half_plus_two:predict", "tfg_unknownsession00000000000000000000000000", 401, ""},
	}
	want := map[string]int{}
	for _, c := range traffic {
		if got := post(t, s, c.path, c.token); got != c.status {
			t.Fatalf("%s as %s: %d, want %d", c.path, c.token[:7], got, c.status)
		}
		want[c.flip]++
	}
	if err := s.auditLog.Flush(); err != nil {
		t.Fatal(err)
	}
	recorded := s.audit.String()

	rep, err := authz.Replay(context.Background(), strings.NewReader(recorded), candidate, authz.ReplayOptions{Examples: 10})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Lines != int64(len(traffic)) || rep.Replayed != int64(len(traffic)) || rep.Errors != 0 || rep.Malformed != 0 {
		t.Fatalf("replay report %+v", rep)
	}
	if rep.AllowToDeny != int64(want[authz.AllowToDeny]) || rep.DenyToAllow != int64(want[authz.DenyToAllow]) {
		t.Errorf("replay flips: allow->deny %d, deny->allow %d; want %d and %d", rep.AllowToDeny, rep.DenyToAllow, want[authz.AllowToDeny], want[authz.DenyToAllow])
	}
	var replayed []string
	for _, f := range rep.Examples {
		replayed = append(replayed, f.DecisionID+" "+f.Direction)
		switch f.Direction {
		case authz.AllowToDeny:
			if f.Groups != "ml-engineers" || f.Model != "half_plus_two" || f.API != "predict" {
				t.Errorf("allow->deny example %+v", f)
			}
		case authz.DenyToAllow:
			if f.Groups != "sales" || f.Model != "half_plus_three" || !strings.Contains(f.NewReason, "grants predict") {
				t.Errorf("deny->allow example %+v", f)
			}
		}
	}

	// The same flips, live: every policy decision goes through the shadow
	// queue (the unknown session is anonymous, decided by the policy too).
	eventually(t, "the shadow policy to evaluate every decision", func() bool {
		return shadow.Stats().Evaluated == uint64(len(traffic))
	})
	st := shadow.Stats()
	if st.AllowToDeny != uint64(rep.AllowToDeny) || st.DenyToAllow != uint64(rep.DenyToAllow) || st.Dropped != 0 || st.Errors != 0 {
		t.Errorf("shadow %+v, replay %+v", st, rep)
	}
	var live []string
	for _, line := range bytes.Split(bytes.TrimSpace([]byte(shadowLog.String())), []byte("\n")) {
		var l struct {
			Msg        string `json:"msg"`
			DecisionID string `json:"decision_id"`
			Direction  string `json:"direction"`
			LiveReason string `json:"live_reason"`
			ShadowRsn  string `json:"shadow_reason"`
		}
		if err := json.Unmarshal(line, &l); err != nil || l.Msg != "shadow policy disagrees" || l.LiveReason == "" || l.ShadowRsn == "" {
			t.Fatalf("shadow log line %q: %v", line, err)
		}
		live = append(live, l.DecisionID+" "+l.Direction)
	}
	slices.Sort(replayed)
	slices.Sort(live)
	if !slices.Equal(replayed, live) || len(live) != want[authz.AllowToDeny]+want[authz.DenyToAllow] {
		t.Errorf("replay flipped %v\nshadow logged %v", replayed, live)
	}
}

// eventually polls cond until it holds, for at most 10 seconds.
func eventually(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
