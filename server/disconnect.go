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

// Reasons the Socket.IO library reports, worded as Node's socket.io words
// them. Stats.Disconnects counts these and the server's own apart, and
// every other reason under ReasonOther.
const (
	// ReasonClientDisconnect: the client closed its socket
	// (socket.disconnect() in socket.io-client).
	ReasonClientDisconnect = "client namespace disconnect"
	// ReasonPingTimeout: the client did not answer a ping in time.
	ReasonPingTimeout = "ping timeout"
	// ReasonTransportError: the connection failed.
	ReasonTransportError = "transport error"
	// ReasonParseError: the client sent a packet that could not be decoded.
	ReasonParseError = "parse error"
	// ReasonForcedClose: the connection was closed under the socket
	// without a goodbye (the client's Engine.IO close, or the server's).
	ReasonForcedClose = "forced close"
	// ReasonForcedServerClose: the library closed the connection, e.g.
	// one that did not connect to a namespace in time.
	ReasonForcedServerClose = "forced server close"
	// ReasonServerNamespaceDisconnect: the library disconnected the socket
	// on the server's behalf.
	ReasonServerNamespaceDisconnect = "server namespace disconnect"
	// ReasonOther is the reason Stats.Disconnects counts every other
	// reason under.
	ReasonOther = "other"
)

// numReasons is the number of reasons Stats.Disconnects counts apart,
// ReasonOther included.
const numReasons = 13

// disconnectReasons returns the reasons Stats.Disconnects counts apart,
// ReasonOther last.
func disconnectReasons() [numReasons]string {
	return [numReasons]string{
		ReasonServerDisconnect, ReasonServerShutdown, ReasonTransportClose, ReasonSlowConsumer, ReasonWriteTimeout,
		ReasonClientDisconnect, ReasonPingTimeout, ReasonTransportError, ReasonParseError, ReasonForcedClose,
		ReasonForcedServerClose, ReasonServerNamespaceDisconnect, ReasonOther,
	}
}

// DisconnectReasons returns the reasons Stats.Disconnects counts apart,
// ReasonOther last: a bounded set, fit for a metric's label.
func DisconnectReasons() []string {
	r := disconnectReasons()
	return r[:]
}

// reasonIndex returns the index of reason in disconnectReasons, that of
// ReasonOther when it is none of them.
func reasonIndex(reason string) int {
	for i, r := range disconnectReasons() {
		if r == reason {
			return i
		}
	}
	return numReasons - 1
}
