package server

import (
	"sort"

	"github.com/zishang520/socket.io/servers/engine/v3"
	"github.com/zishang520/socket.io/servers/engine/v3/transports"
)

// SocketInfo describes a connected socket of any namespace, for
// inspection tools such as an admin view.
type SocketInfo struct {
	// Namespace is the socket's namespace, "/" or one made with
	// Server.Namespace.
	Namespace string
	// ID is the socket id.
	ID string
	// ClientID is the Engine.IO session id of the client's connection,
	// shared by its sockets in every namespace.
	ClientID string
	// Transport is "polling" or "websocket".
	Transport string
	// Handshake is what the client sent when it connected.
	Handshake Handshake
	// Rooms are the socket's rooms (its private socket-id room excluded).
	Rooms []string
	// User is the socket's user, for an authenticated socket of "/".
	User *User
	// DeviceID is the device id announced at handshake (sockets of "/").
	DeviceID string
}

// NamespaceInfo describes a namespace.
type NamespaceInfo struct {
	// Name is the namespace's name, e.g. "/" or "/admin".
	Name string
	// Sockets is the number of its connected sockets.
	Sockets int
}

// Sockets returns every connected socket of every namespace: "/" and the
// namespaces made with Server.Namespace.
func (o Operator) Sockets() []SocketInfo {
	s := o.s
	conns := s.reg.all()
	out := make([]SocketInfo, 0, len(conns))
	for _, c := range conns {
		out = append(out, c.info())
	}
	for _, n := range s.namespaceList() {
		for _, c := range n.Sockets() {
			out = append(out, c.info())
		}
	}
	return out
}

// Namespaces returns "/" and every namespace made with Server.Namespace,
// sorted by name, with their socket counts.
func (o Operator) Namespaces() []NamespaceInfo {
	s := o.s
	out := []NamespaceInfo{{Name: RootNamespace, Sockets: s.reg.count()}}
	for _, n := range s.namespaceList() {
		out = append(out, NamespaceInfo{Name: n.name, Sockets: n.reg.count()})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Clients returns the number of open Engine.IO connections (one per
// client, carrying its sockets of every namespace) and how many of them
// are on the polling transport.
func (o Operator) Clients() (total, polling int) {
	s := o.s
	s.io.Engine().Clients().Range(func(_ string, sock engine.Socket) bool {
		total++
		if t := sock.Transport(); t != nil && t.Name() == transports.POLLING {
			polling++
		}
		return true
	})
	return total, polling
}

// info describes c for Operator.Sockets.
func (c *Conn) info() SocketInfo {
	si := SocketInfo{
		Namespace: c.Namespace(),
		ID:        c.id,
		ClientID:  clientID(c.sock),
		Transport: c.Transport(),
		Handshake: c.handshake,
		Rooms:     c.Rooms(),
		DeviceID:  c.deviceID,
	}
	if u, ok := c.User(); ok {
		si.User = &u
	}
	return si
}
