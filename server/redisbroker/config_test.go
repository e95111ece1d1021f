package redisbroker

import (
	"strings"
	"testing"
	"time"
)

// The defaults are the Node adapter's, so default Go and Node nodes meet.
func TestConfigDefaults(t *testing.T) {
	c, err := Config{}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	if c.StreamName != "socket.io" || c.StreamCount != 1 || c.ChannelPrefix != "socket.io" || c.MaxLen != 10_000 ||
		c.ReadCount != 100 || c.BlockTime != 5*time.Second || c.SessionKeyPrefix != "sio:session:" ||
		c.SessionTTL != 2*time.Minute || c.RequestTimeout != 5*time.Second || c.Logger == nil {
		t.Fatalf("defaults = %+v", c)
	}
	if got := c.streamKeys(); len(got) != 1 || got[0] != "socket.io" {
		t.Fatalf("streamKeys = %v", got)
	}
	c.StreamCount = 3
	if got := strings.Join(c.streamKeys(), " "); got != "socket.io-0 socket.io-1 socket.io-2" {
		t.Fatalf("streamKeys with 3 streams = %v", got)
	}
	if _, err := (Config{MaxLen: -1}).withDefaults(); err == nil || !strings.Contains(err.Error(), "MaxLen") {
		t.Fatalf("negative MaxLen: %v", err)
	}
}
