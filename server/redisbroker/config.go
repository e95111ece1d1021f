package redisbroker

import (
	"fmt"
	"log/slog"
	"strings"
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
	// OnceWindow is how long a broadcast published once (server.Publish,
	// Emitter.Publish: server.Broadcast.Once) keeps its repeats out of the
	// stream, the repeats of every node and emitter of the cluster.
	// Default 10 minutes.
	OnceWindow time.Duration
	// OnceKeyPrefix prefixes the keys that remember the broadcasts
	// published once: SET <OnceKeyPrefix><id> 1 NX PX <OnceWindow>, one
	// key per id for the window. Default "{<stream of "/">}:once:", e.g.
	// "{socket.io}:once:": scoped to the cluster's stream, so that two
	// clusters on one Redis do not drop each other's events, and (the
	// braces are a hash tag) in the stream's slot on a Redis Cluster,
	// where the script that sets the key and adds the entry must touch
	// one slot. When StreamName holds a hash tag of its own, the default
	// is "<stream>:once:". A prefix set here on a Redis Cluster must keep
	// the stream's slot.
	OnceKeyPrefix string
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
	DefaultOnceWindow     = 10 * time.Minute
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
		{"OnceWindow", int64(c.OnceWindow)},
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
	if c.OnceWindow == 0 {
		c.OnceWindow = DefaultOnceWindow
	}
	if c.OnceWindow < time.Millisecond {
		return Config{}, fmt.Errorf("redisbroker: Config.OnceWindow %v is under a millisecond", c.OnceWindow)
	}
	if c.OnceKeyPrefix == "" {
		c.OnceKeyPrefix = onceKeyPrefix(c.streamKey(nsp))
	}
	return c, nil
}

// onceKeyPrefix returns the default OnceKeyPrefix for stream: the stream's
// name as a hash tag, or as it is when it holds one already (its own tag
// then comes first in the key).
func onceKeyPrefix(stream string) string {
	if open := strings.IndexByte(stream, '{'); open >= 0 {
		if end := strings.IndexByte(stream[open+1:], '}'); end > 0 {
			return stream + ":once:"
		}
	}
	return "{" + stream + "}:once:"
}

// onceKey returns the key remembering the broadcast published once as id.
func (c Config) onceKey(id string) string { return c.OnceKeyPrefix + id }

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
