package redisbroker

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/entreactive/reactive/server/redisbroker/internal/wire"
)

// Config is the Redis side of a cluster node. Zero fields take the defaults
// of @socket.io/redis-streams-adapter, so a Go node and a Node node with
// default options share streams, channels and sessions.
type Config struct {
	// StreamName is the stream, or the prefix of the streams when
	// StreamCount > 1. Default "socket.io".
	StreamName string
	// StreamCount spreads namespaces over this many streams. Default 1;
	// see doc.go for the namespaces on which Node picks another stream.
	StreamCount int
	// ChannelPrefix prefixes the pub/sub channels. Default "socket.io".
	ChannelPrefix string
	// MaxLen bounds each stream (XADD MAXLEN ~). Default 10,000 entries;
	// a client whose offset was trimmed cannot recover.
	MaxLen int64
	// ReadCount is the most entries one XREAD returns. Default 100.
	ReadCount int64
	// BlockTime is how long one XREAD waits for entries. Default 5 s.
	BlockTime time.Duration
	// SessionKeyPrefix prefixes the session keys. Default "sio:session:".
	SessionKeyPrefix string
	// SessionTTL is how long a dropped socket's session is kept (Node's
	// connectionStateRecovery.maxDisconnectionDuration). Default 2 minutes.
	SessionTTL time.Duration
	// RequestTimeout bounds how long FetchSockets and ServerSideEmit with
	// an acknowledgement wait for the other nodes' answers, and each Redis
	// call made for a caller whose context has no deadline (Node's
	// requestsTimeout). Default 5 s.
	RequestTimeout time.Duration
	// Logger receives the errors of the background loops. Default
	// slog.Default().
	Logger *slog.Logger
}

// Defaults of Config, those of the Node adapter (and the two-minute
// recovery window).
const (
	DefaultStreamName     = "socket.io"
	DefaultChannelPrefix  = "socket.io"
	DefaultMaxLen         = 10_000
	DefaultReadCount      = 100
	DefaultBlockTime      = 5 * time.Second
	DefaultSessionTTL     = 2 * time.Minute
	DefaultRequestTimeout = 5 * time.Second
)

// restoreBatch is the COUNT of each XRANGE of the restore walk.
const restoreBatch = 1000

// withDefaults returns c with its zero fields filled, or an error for a
// negative one.
func (c Config) withDefaults() (Config, error) {
	for _, f := range []struct {
		name  string
		value int64
	}{
		{"StreamCount", int64(c.StreamCount)},
		{"MaxLen", c.MaxLen},
		{"ReadCount", c.ReadCount},
		{"BlockTime", int64(c.BlockTime)},
		{"SessionTTL", int64(c.SessionTTL)},
		{"RequestTimeout", int64(c.RequestTimeout)},
	} {
		if f.value < 0 {
			return Config{}, fmt.Errorf("redisbroker: Config.%s is negative (%d)", f.name, f.value)
		}
	}
	if c.StreamName == "" {
		c.StreamName = DefaultStreamName
	}
	if c.StreamCount == 0 {
		c.StreamCount = 1
	}
	if c.ChannelPrefix == "" {
		c.ChannelPrefix = DefaultChannelPrefix
	}
	if c.MaxLen == 0 {
		c.MaxLen = DefaultMaxLen
	}
	if c.ReadCount == 0 {
		c.ReadCount = DefaultReadCount
	}
	if c.BlockTime == 0 {
		c.BlockTime = DefaultBlockTime
	}
	if c.SessionKeyPrefix == "" {
		c.SessionKeyPrefix = wire.DefaultSessionKeyPrefix
	}
	if c.SessionTTL == 0 {
		c.SessionTTL = DefaultSessionTTL
	}
	if c.RequestTimeout == 0 {
		c.RequestTimeout = DefaultRequestTimeout
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c, nil
}

// streamKey returns the stream of namespace nsp.
func (c Config) streamKey(nsp string) string {
	return wire.StreamKey(c.StreamName, c.StreamCount, nsp)
}

// streamKeys returns every stream a node reads.
func (c Config) streamKeys() []string {
	if c.StreamCount <= 1 {
		return []string{c.StreamName}
	}
	keys := make([]string, c.StreamCount)
	for i := range keys {
		keys[i] = fmt.Sprintf("%s-%d", c.StreamName, i)
	}
	return keys
}

// restoreLimit is the most entries a restore walk reads before giving up:
// twice what the stream holds, so that a walk racing heavy writes ends.
func (c Config) restoreLimit() int {
	return int(2*c.MaxLen) + restoreBatch
}
