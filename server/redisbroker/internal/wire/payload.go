package wire

// Broadcast (type 3) delivers Packet to the sockets Opts selects. With a
// RequestID it waits for acknowledgements and travels by pub/sub; every
// server answers one BroadcastClientCount and one BroadcastAck per client
// acknowledgement.
type Broadcast struct {
	Packet    Packet `json:"packet"`
	Opts      Opts   `json:"opts"`
	RequestID string `json:"requestId,omitempty"`
}

// SocketsJoin (type 4) makes the sockets Opts selects join Rooms.
type SocketsJoin struct {
	Opts  Opts     `json:"opts"`
	Rooms []string `json:"rooms"`
}

// SocketsLeave (type 5) makes the sockets Opts selects leave Rooms.
type SocketsLeave struct {
	Opts  Opts     `json:"opts"`
	Rooms []string `json:"rooms"`
}

// DisconnectSockets (type 6) disconnects the sockets Opts selects; Close
// also closes their underlying connection.
type DisconnectSockets struct {
	Opts  Opts `json:"opts"`
	Close bool `json:"close,omitempty"`
}

// FetchSockets (type 7) asks every other server for the sockets Opts
// selects; each answers one FetchSocketsResponse.
type FetchSockets struct {
	Opts      Opts   `json:"opts"`
	RequestID string `json:"requestId"`
}

// FetchSocketsResponse (type 8) answers a FetchSockets.
type FetchSocketsResponse struct {
	RequestID string       `json:"requestId"`
	Sockets   []SocketInfo `json:"sockets"`
}

// SocketInfo is one socket in a FetchSocketsResponse (RemoteSocket in Node).
type SocketInfo struct {
	ID        string    `json:"id"`
	Handshake Handshake `json:"handshake"`
	Rooms     []string  `json:"rooms"`
	Data      any       `json:"data"`
}

// Handshake is socket.handshake as Node sends it (without sessionStore).
// Issued is in Unix milliseconds; Time is a Date string.
type Handshake struct {
	Headers map[string]any `json:"headers"`
	Time    string         `json:"time"`
	Address string         `json:"address"`
	XDomain bool           `json:"xdomain"`
	Secure  bool           `json:"secure"`
	Issued  int64          `json:"issued"`
	URL     string         `json:"url"`
	Query   map[string]any `json:"query"`
	Auth    map[string]any `json:"auth"`
}

// ServerSideEmit (type 9) is an event for the other servers; Packet is
// [event, args...]. With a RequestID every server answers one
// ServerSideEmitResponse.
type ServerSideEmit struct {
	RequestID string `json:"requestId,omitempty"`
	Packet    []any  `json:"packet"`
}

// ServerSideEmitResponse (type 10) answers a ServerSideEmit with the first
// argument of the receiver's acknowledgement.
type ServerSideEmitResponse struct {
	RequestID string `json:"requestId"`
	Packet    any    `json:"packet"`
}

// BroadcastClientCount (type 11) tells the requester of a Broadcast with a
// RequestID how many acknowledgements to expect from one server.
type BroadcastClientCount struct {
	RequestID   string `json:"requestId"`
	ClientCount int    `json:"clientCount"`
}

// BroadcastAck (type 12) carries the first argument of one client's
// acknowledgement of a Broadcast with a RequestID.
type BroadcastAck struct {
	RequestID string `json:"requestId"`
	Packet    any    `json:"packet"`
}

// Type implements Payload.
func (*Broadcast) Type() Type { return TypeBroadcast }

// Type implements Payload.
func (*SocketsJoin) Type() Type { return TypeSocketsJoin }

// Type implements Payload.
func (*SocketsLeave) Type() Type { return TypeSocketsLeave }

// Type implements Payload.
func (*DisconnectSockets) Type() Type { return TypeDisconnectSockets }

// Type implements Payload.
func (*FetchSockets) Type() Type { return TypeFetchSockets }

// Type implements Payload.
func (*FetchSocketsResponse) Type() Type { return TypeFetchSocketsResponse }

// Type implements Payload.
func (*ServerSideEmit) Type() Type { return TypeServerSideEmit }

// Type implements Payload.
func (*ServerSideEmitResponse) Type() Type { return TypeServerSideEmitResponse }

// Type implements Payload.
func (*BroadcastClientCount) Type() Type { return TypeBroadcastClientCount }

// Type implements Payload.
func (*BroadcastAck) Type() Type { return TypeBroadcastAck }

// Only the types the streams adapter lists as mayContainBinary (3, 8, 9, 10,
// 12) ever switch to msgpack in the stream.
func (p *Broadcast) hasBinary() bool              { return hasBinary(p.Packet.Data) }
func (*SocketsJoin) hasBinary() bool              { return false }
func (*SocketsLeave) hasBinary() bool             { return false }
func (*DisconnectSockets) hasBinary() bool        { return false }
func (*FetchSockets) hasBinary() bool             { return false }
func (*BroadcastClientCount) hasBinary() bool     { return false }
func (p *ServerSideEmit) hasBinary() bool         { return hasBinary(p.Packet) }
func (p *ServerSideEmitResponse) hasBinary() bool { return hasBinary(p.Packet) }
func (p *BroadcastAck) hasBinary() bool           { return hasBinary(p.Packet) }
func (p *FetchSocketsResponse) hasBinary() bool {
	for _, s := range p.Sockets {
		if hasBinary(s.Data) || hasBinary(s.Handshake.Auth) || hasBinary(s.Handshake.Query) || hasBinary(s.Handshake.Headers) {
			return true
		}
	}
	return false
}

func (p *Broadcast) normalized() Payload {
	c := *p
	c.Opts = p.Opts.normalized()
	if c.Packet.Data == nil && c.Packet.RawData == nil {
		c.Packet.Data = []any{}
	}
	return &c
}

func (p *SocketsJoin) normalized() Payload {
	return &SocketsJoin{Opts: p.Opts.normalized(), Rooms: nonNil(p.Rooms)}
}

func (p *SocketsLeave) normalized() Payload {
	return &SocketsLeave{Opts: p.Opts.normalized(), Rooms: nonNil(p.Rooms)}
}

func (p *DisconnectSockets) normalized() Payload {
	return &DisconnectSockets{Opts: p.Opts.normalized(), Close: p.Close}
}

func (p *FetchSockets) normalized() Payload {
	return &FetchSockets{Opts: p.Opts.normalized(), RequestID: p.RequestID}
}

func (p *FetchSocketsResponse) normalized() Payload {
	c := &FetchSocketsResponse{RequestID: p.RequestID, Sockets: make([]SocketInfo, len(p.Sockets))}
	for i, s := range p.Sockets {
		s.Rooms = nonNil(s.Rooms)
		c.Sockets[i] = s
	}
	return c
}

func (p *ServerSideEmit) normalized() Payload {
	c := *p
	if c.Packet == nil {
		c.Packet = []any{}
	}
	return &c
}

func (p *ServerSideEmitResponse) normalized() Payload { return p }
func (p *BroadcastClientCount) normalized() Payload   { return p }
func (p *BroadcastAck) normalized() Payload           { return p }

func (p *Broadcast) loosen()              { loosen(p.Packet.Data) }
func (*SocketsJoin) loosen()              {}
func (*SocketsLeave) loosen()             {}
func (*DisconnectSockets) loosen()        {}
func (*FetchSockets) loosen()             {}
func (*BroadcastClientCount) loosen()     {}
func (p *ServerSideEmit) loosen()         { loosen(p.Packet) }
func (p *ServerSideEmitResponse) loosen() { p.Packet = loosen(p.Packet) }
func (p *BroadcastAck) loosen()           { p.Packet = loosen(p.Packet) }
func (p *FetchSocketsResponse) loosen() {
	for i := range p.Sockets {
		s := &p.Sockets[i]
		s.Data = loosen(s.Data)
		loosenMap(s.Handshake.Headers)
		loosenMap(s.Handshake.Query)
		loosenMap(s.Handshake.Auth)
	}
}

// newPayload returns an empty payload of type t to decode into.
func newPayload(t Type) (Payload, bool) {
	switch t {
	case TypeBroadcast:
		return &Broadcast{}, true
	case TypeSocketsJoin:
		return &SocketsJoin{}, true
	case TypeSocketsLeave:
		return &SocketsLeave{}, true
	case TypeDisconnectSockets:
		return &DisconnectSockets{}, true
	case TypeFetchSockets:
		return &FetchSockets{}, true
	case TypeFetchSocketsResponse:
		return &FetchSocketsResponse{}, true
	case TypeServerSideEmit:
		return &ServerSideEmit{}, true
	case TypeServerSideEmitResponse:
		return &ServerSideEmitResponse{}, true
	case TypeBroadcastClientCount:
		return &BroadcastClientCount{}, true
	case TypeBroadcastAck:
		return &BroadcastAck{}, true
	}
	return nil, false
}
