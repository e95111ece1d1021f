package testkit

import (
	"testing"

	"github.com/entreactive/reactive/server/servertest"
)

// Secret is the JWT secret of the servers Serve starts (HS256, 32 bytes or
// more).
const Secret = "entreactive-test-secret-of-32-bytes!!"

// Token returns a token for user id, signed with Secret and valid for an
// hour, as servertest.Token makes it. It fails the test if signing fails.
func Token(t testing.TB, id any) string {
	t.Helper()
	token, err := servertest.Token([]byte(Secret), id, 0)
	if err != nil {
		t.Fatalf("testkit: %v", err)
	}
	return token
}
