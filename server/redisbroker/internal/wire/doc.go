// Package wire is the wire format of @socket.io/redis-streams-adapter 0.3.x
// and of socket.io-adapter's ClusterAdapter, in Go: the cluster messages
// (types 3 to 12), their stream entry and pub/sub encodings, the stream key,
// the offset rule and the connection-state-recovery session.
//
// It is pure: no Redis, no sockets. Package redisbroker moves these bytes
// through Redis; keeping the codec apart lets it be read against the Node
// sources, fuzzed and tested alone, and keeps it out of the public API.
//
// Values inside events (packet arguments, socket data) are JSON-like: nil,
// bool, numbers, string, []byte, []any, map[string]any, and, when encoding,
// json.RawMessage for arguments that are already JSON. Decoded JSON numbers
// are float64; decoded msgpack numbers are int64, uint64 or float64.
package wire
