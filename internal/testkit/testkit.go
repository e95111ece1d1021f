// Package testkit holds the helpers this repository's own tests share: a
// bounded context, a logger that stays quiet unless asked, a server.Server
// served on a loopback port, tokens it accepts, and Socket.IO clients
// connected to it. It imports only the standard library and this module's
// packages. Applications testing against the server use server/servertest.
package testkit

import (
	"context"
	"testing"
	"time"
)

// Wait bounds every wait of the tests. It is generous because the machine
// may be busy: reaching it means something never happened, not that it was
// slow.
const Wait = 20 * time.Second

// Context returns a context that ends after Wait, or when the test's
// cleanups have run. Unlike t.Context it is still live inside cleanups.
func Context(t testing.TB) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), Wait)
	t.Cleanup(cancel)
	return ctx
}

// Eventually polls cond every few milliseconds until it holds, and fails
// the test, naming what it waited for, if Wait passes first.
func Eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(Wait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
