// Package redisbroker is the Redis broker of a cluster of entreactive nodes
// (server.Config.Broker), speaking the wire format of Node's
// @socket.io/redis-streams-adapter 0.3.x (on socket.io-adapter's
// ClusterAdapter), so that Go nodes and Node socket.io 4.8 nodes form one
// cluster and clients recover across node kinds.
//
//	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379"})
//	b, err := redisbroker.New(rdb, redisbroker.Config{})
//	...
//	srv, err := server.New(server.Config{Broker: b, ...})
//
// Broker is a server.Broker: the server's broadcasts and socket operations
// (join, leave, disconnect) reach every node's sockets, FetchSockets and the
// utility API built on it (RoomSize, IsUserOnline, UserDevices,
// ConnectionCount, UserCount) answer for the whole cluster, server-side
// emits reach the other nodes' servers, and dropped sockets' sessions are
// kept in Redis for connection state recovery on any node. The cluster
// spans the namespace "/"; messages for other namespaces are ignored.
//
// Emitter publishes broadcasts from a process that serves no sockets (a
// worker, a cron job): it implements entreactive.Publisher (Emit, and
// Publish for the durable path) and EmitTo, and never subscribes (see
// below).
//
// The codec is in internal/wire.
//
// # What travels where
//
//   - Broadcasts, remote join/leave and disconnects go through one Redis
//     stream per namespace group (Config.StreamName, or StreamName-<i> with
//     StreamCount > 1): XADD <stream> MAXLEN ~ <MaxLen> * uid <uid> nsp <nsp>
//     type "<code>" data <JSON, or base64(msgpack) when it holds binary>.
//     Every node reads the stream of "/" with XREAD BLOCK, from where the
//     stream ended when it started, then from the last entry it read. A
//     Go node writes the event's arguments as the JSON text its server
//     encoded, and hands another Go node's text to its clients as it is:
//     the arguments are encoded once, on the emitting node, and never
//     decoded on the way. A binary event (BINARY_EVENT and its attachments)
//     goes as msgpack with the bytes in place of the placeholders, as Node
//     writes it, and is turned back into a BINARY_EVENT on arrival.
//   - A selector that includes the room "all" (EmitTo with entreactive.ToAll) goes out
//     as "every socket": Node's sockets are in no room "all". The other
//     rooms entreactive keeps (users, guests, user_<id>, device_<id>) exist
//     only on Go nodes.
//   - Requests that wait for answers (fetchSockets, serverSideEmit,
//     broadcasts with acknowledgements) are msgpack messages PUBLISHed on
//     <ChannelPrefix>#<nsp>#; answers go to the requester's channel
//     <ChannelPrefix>#<nsp>#<uid>#. The number of answers to wait for is
//     PUBSUB NUMSUB of the public channel minus one, which is why a process
//     that only publishes must not subscribe: Emitter never does. A request
//     fails after Config.RequestTimeout (default 5 s, Node's
//     requestsTimeout) with ErrRequestTimeout, saying how many nodes
//     answered of how many; with no other node it returns at once.
//   - fetchSockets answers describe a Go socket in Node's shape: its rooms
//     (its id included), data {user_id, device_id} and handshake (headers
//     with lower-case names, time as JavaScript's Date string, issued in
//     Unix ms, address, xdomain, secure, url, query, auth without the
//     token).
//   - A recoverable broadcast reaches clients with its stream entry id as the
//     last event argument (the offset the client sends back on reconnection).
//     The broker hands the id to its server with each broadcast (Publish
//     returns it for the server's own, Node.Deliver gets it for the others',
//     "" for volatile ones) and the server appends it; restored sessions'
//     missed broadcasts come back as published, each with its id.
//   - A broadcast published once (server.Server.Publish, Emitter.Publish:
//     server.Broadcast.Once, the event's EventID) is added by a script,
//     EVALSHA (EVAL when Redis does not have it): SET
//     <OnceKeyPrefix><id> 1 NX PX <OnceWindow>, and only when that set
//     the key, the same XADD as above; a repeat, from any node or emitter,
//     adds nothing within the window (default 10 minutes). The entry is
//     the same as any broadcast's: Node nodes read it as they read ours.
//   - A socket's session is SET <SessionKeyPrefix><pid>
//     base64(msgpack({sid, pid, rooms, data})) PX <SessionTTL>: while the
//     socket lives (the server keeps it up to date and refreshes it every
//     half SessionTTL, so that the clients of a node that dies recover on
//     another), and when it drops for a recoverable reason (the final
//     state); DropSession deletes it when the socket leaves for good.
//     Restoring takes the session (GET and DEL in one MULTI),
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
// SessionTTL (default 2 minutes), deleted at restore; each live socket
// one key too, refreshed by its node. Each broadcast published once costs
// a key (~100 bytes) for OnceWindow. Pub/sub keeps nothing.
// The stream's memory is about MaxLen times the size of an entry (the event
// JSON plus ~60 bytes of fields).
//
// # Failures
//
// Every Redis call of Publish, FetchSockets, ServerSideEmit, PersistSession,
// RestoreSession and the Emitter ends within Config.RequestTimeout, so an
// unreachable Redis gives the caller an error, never a hang. The stream
// reader logs its errors and retries with backoff (up to 5 s), resuming after
// the last entry it read; go-redis re-establishes the subscription. A
// restore that cannot give the client everything it missed fails with an
// error matching server.ErrNotRecoverable (and ErrSessionNotFound,
// ErrOffsetNotFound, ErrHistoryTooLong or ErrInvalidOffset).
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
// # Limitations
//
//   - Broadcasts with acknowledgements: a Node node's broadcast that waits
//     for acknowledgements (emitWithAck to rooms) reaches the Go node's
//     sockets without an acknowledgement id, and the Go node answers that
//     it has no client to wait for (BROADCAST_CLIENT_COUNT 0): the Node
//     caller gets the acknowledgements of Node's clients only, without
//     waiting for its timeout. Go nodes do not broadcast with
//     acknowledgements.
//   - A Go node without a handler for a server-side event does not answer
//     it, as a Node server without a listener: a ServerSideEmitWithAck for
//     that event fails at the timeout.
//   - Sharded pub/sub (useShardedPubSub), Redis Cluster and Ring are not
//     spoken yet: New takes a *redis.Client (single Redis or Sentinel).
package redisbroker
