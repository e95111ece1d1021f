package server

// Disconnect reasons, as OnDisconnect hooks receive them and as the server
// logs them. Reasons reported by the Socket.IO library for closes the
// client or the network caused ("transport close", "ping timeout",
// "client namespace disconnect", "parse error", ...) are passed through
// as the library words them.
const (
	// ReasonServerDisconnect: Conn.Disconnect, DisconnectUser or
	// DisconnectDevice closed the socket.
	ReasonServerDisconnect = "server disconnect"
	// ReasonServerShutdown: Close closed the server.
	ReasonServerShutdown = "server shutting down"
	// ReasonTransportClose: the connection closed under the socket.
	ReasonTransportClose = "transport close"
	// ReasonSlowConsumer: the client read too slowly; more than
	// Config.MaxPendingBytes were waiting to be written to it.
	ReasonSlowConsumer = "slow consumer"
	// ReasonWriteTimeout: a write to the client did not complete within
	// Config.WriteTimeout.
	ReasonWriteTimeout = "write timeout"
)
