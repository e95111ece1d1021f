// Package redisbroker is the groundwork of the Redis broker of issue 10: the
// Redis side of a cluster of entreactive nodes, speaking the wire format of
// Node's @socket.io/redis-streams-adapter 0.3.x (on socket.io-adapter's
// ClusterAdapter), so that Go nodes and Node socket.io 4.8 nodes form one
// cluster and clients recover across node kinds.
//
// It holds building blocks, not yet wired into server.Server: a publisher
// (XADD or PUBLISH, as the adapter's doPublish), a stream reader, a pub/sub
// subscriber, and session persist/restore for connection state recovery. The
// codec itself is in internal/wire.
//
// # What travels where
//
//   - Broadcasts, remote join/leave and disconnects go through one Redis
//     stream per namespace group (Config.StreamName, or StreamName-<i> with
//     StreamCount > 1): XADD <stream> MAXLEN ~ <MaxLen> * uid <uid> nsp <nsp>
//     type "<code>" data <JSON, or base64(msgpack) when it holds binary>.
//     Every node reads every stream with XREAD BLOCK, from where the stream
//     ended when it started, then from the last entry it read.
//   - Requests that wait for answers (fetchSockets, serverSideEmit,
//     broadcasts with acknowledgements) are msgpack messages PUBLISHed on
//     <ChannelPrefix>#<nsp>#; answers go to the requester's channel
//     <ChannelPrefix>#<nsp>#<uid>#. The number of answers to wait for is
//     PUBSUB NUMSUB of the public channel minus one, which is why a process
//     that only publishes must not subscribe.
//   - A recoverable broadcast reaches clients with its stream entry id as the
//     last event argument (the offset the client sends back on reconnection).
//   - A socket that drops for a recoverable reason leaves
//     SET <SessionKeyPrefix><pid> base64(msgpack({sid, pid, rooms, data})) PX
//     <SessionTTL>. Restoring takes the session (GET and DEL in one MULTI),
//     checks that the client's offset is still in the stream, and walks the
//     stream after it for the broadcasts the socket's rooms would have
//     received.
//
// # Redis memory bound
//
// Each stream holds about MaxLen entries (default 10,000; "~" trimming keeps
// up to one macro node, 100 entries, more), whatever the traffic: recovery
// is bounded by entries, not by time. A client whose offset was trimmed gets
// a fresh connection. Each dropped socket costs one key for at most
// SessionTTL (default 2 minutes), deleted at restore. Pub/sub keeps nothing.
// The stream's memory is about MaxLen times the size of an entry (the event
// JSON plus ~60 bytes of fields).
//
// # Where we differ from the Node adapter, on purpose
//
//   - Volatile packets are not replayed on recovery. Node gives them no
//     offset live but its restore walk replays them (and packets sent with an
//     acknowledgement id); ours replays only what carried an offset. A client
//     restored by a Node node still gets volatile packets replayed.
//   - Stream choice with StreamCount > 1: Node takes hashCode(nsp) %
//     StreamCount, negative for about half of the namespaces, and then writes
//     to a stream such as "socket.io--3" that no server reads: those
//     namespaces lose every broadcast and cannot recover. We take the
//     non-negative remainder, so those namespaces work on Go nodes. In a mixed
//     cluster they still do not: Node nodes write where nobody reads and
//     restore from the wrong stream, while our broadcasts reach them. Mixed
//     clusters should keep StreamCount at 1 (the default), or use only
//     namespaces with a non-negative hash (wire.NodeStreamKey tells).
//   - A restore that cannot reach the end of the stream (more than twice
//     MaxLen entries after the offset) fails instead of returning what it
//     read: a client gets all it missed or a fresh connection. Node stops
//     after 100 unbounded XRANGE calls and returns what it has.
//   - The reader starts from the stream's last id, resolved before start
//     returns, rather than "$" at its first XREAD, so no entry added after
//     start is missed; read errors are logged and retried with backoff
//     instead of swallowed and retried at once.
//
// Sharded pub/sub (useShardedPubSub) and Redis Cluster are not spoken yet.
package redisbroker
