package testkit

import (
	"log/slog"
	"os"
	"strings"
	"testing"
)

// LogFileEnv names the environment variable that, when set to a file
// name, makes Logger append every test's debug log to that file.
const LogFileEnv = "ENTREACTIVE_TEST_LOG"

// Logger returns a logger for the test t. It discards everything, unless
// the tests run with -v (lines go to t.Log, debug level included) or
// $ENTREACTIVE_TEST_LOG names a file (lines are appended to it, tagged with
// the test's name).
func Logger(t testing.TB) *slog.Logger {
	debug := &slog.HandlerOptions{Level: slog.LevelDebug}
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(testWriter{t}, debug))
	}
	if name := os.Getenv(LogFileEnv); name != "" {
		f, err := os.OpenFile(name, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
		if err == nil {
			t.Cleanup(func() { f.Close() })
			return slog.New(slog.NewTextHandler(f, debug)).With("test", t.Name())
		}
		t.Logf("testkit: %s: %v; logs are discarded", LogFileEnv, err)
	}
	return slog.New(slog.DiscardHandler)
}

// testWriter sends each log line to t.Log.
type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}
