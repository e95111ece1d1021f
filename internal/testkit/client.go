package testkit

import (
	"testing"

	"github.com/entreactive/reactive/internal/sioclient"
)

// Dial connects a Socket.IO client to the server at url with o, closes it
// when the test ends, and returns it once the server's "connected" event
// has arrived: the client sees its namespace connected slightly before the
// server has put the socket in its rooms, and "connected" comes after.
func Dial(t testing.TB, url string, o sioclient.Options) *sioclient.Client {
	t.Helper()
	c, err := sioclient.Dial(Context(t), url, o)
	if err != nil {
		t.Fatalf("testkit: dial: %v", err)
	}
	t.Cleanup(c.Close)
	if err := c.WaitCount(Context(t), "connected", 1); err != nil {
		t.Fatalf("testkit: dial: %v", err)
	}
	return c
}

// AckSuccess reports whether ack is the server's {success: true}.
func AckSuccess(ack []any) bool {
	if len(ack) != 1 {
		return false
	}
	m, _ := ack[0].(map[string]any)
	return m["success"] == true
}
