package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"

	"google.golang.org/grpc/grpclog"
)

// adoptProcessLogs, set by main, makes the first logger a command builds
// the process-wide one: the standard library's log package (net/http's
// server errors, ...) and gRPC's grpclog then write through it, so that
// every stderr line of the process has one format. Commands run in tests
// leave the globals alone.
var adoptProcessLogs bool

var adoptOnce sync.Once

// adoptLogger routes the process's other loggers through log (once, and
// only when adoptProcessLogs is set).
func adoptLogger(log *slog.Logger) {
	if !adoptProcessLogs {
		return
	}
	adoptOnce.Do(func() {
		slog.SetDefault(log)
		grpclog.SetLoggerV2(newGRPCLogger(log.With("component", "grpc"),
			os.Getenv("GRPC_GO_LOG_SEVERITY_LEVEL"), os.Getenv("GRPC_GO_LOG_VERBOSITY_LEVEL")))
	})
}

// grpcLogger is a grpclog.LoggerV2 over slog. Like gRPC's own default
// logger it prints errors only unless GRPC_GO_LOG_SEVERITY_LEVEL says
// warning or info, and V(l) is l <= GRPC_GO_LOG_VERBOSITY_LEVEL.
type grpcLogger struct {
	log       *slog.Logger
	min       slog.Level
	verbosity int
}

func newGRPCLogger(log *slog.Logger, severity, verbosity string) *grpcLogger {
	g := &grpcLogger{log: log, min: slog.LevelError}
	switch strings.ToLower(severity) {
	case "info":
		g.min = slog.LevelInfo
	case "warning":
		g.min = slog.LevelWarn
	}
	g.verbosity, _ = strconv.Atoi(verbosity)
	return g
}

func (g *grpcLogger) emit(level slog.Level, msg string) {
	if level >= g.min {
		g.log.Log(context.Background(), level, strings.TrimSuffix(msg, "\n"))
	}
}

func (g *grpcLogger) Info(args ...any)   { g.emit(slog.LevelInfo, fmt.Sprint(args...)) }
func (g *grpcLogger) Infoln(args ...any) { g.emit(slog.LevelInfo, fmt.Sprintln(args...)) }
func (g *grpcLogger) Infof(format string, args ...any) {
	g.emit(slog.LevelInfo, fmt.Sprintf(format, args...))
}
func (g *grpcLogger) Warning(args ...any)   { g.emit(slog.LevelWarn, fmt.Sprint(args...)) }
func (g *grpcLogger) Warningln(args ...any) { g.emit(slog.LevelWarn, fmt.Sprintln(args...)) }
func (g *grpcLogger) Warningf(format string, args ...any) {
	g.emit(slog.LevelWarn, fmt.Sprintf(format, args...))
}
func (g *grpcLogger) Error(args ...any)   { g.emit(slog.LevelError, fmt.Sprint(args...)) }
func (g *grpcLogger) Errorln(args ...any) { g.emit(slog.LevelError, fmt.Sprintln(args...)) }
func (g *grpcLogger) Errorf(format string, args ...any) {
	g.emit(slog.LevelError, fmt.Sprintf(format, args...))
}
func (g *grpcLogger) Fatal(args ...any)                 { g.Error(args...); os.Exit(1) }
func (g *grpcLogger) Fatalln(args ...any)               { g.Errorln(args...); os.Exit(1) }
func (g *grpcLogger) Fatalf(format string, args ...any) { g.Errorf(format, args...); os.Exit(1) }
func (g *grpcLogger) V(l int) bool                      { return l <= g.verbosity }
