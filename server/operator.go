package server

// Operator is the server seen by operator tools, such as the Socket.IO
// Admin UI backend (package server/admin): it lists every socket and
// namespace, watches every change, and acts on the sockets of any
// namespace. Applications do not need it; get it with Server.Operator.
//
// A filter selects sockets the way Socket.IO's io.of(nsp).in(filter)
// does: "" selects every socket of the namespace, otherwise the sockets in
// room filter, or the socket whose id is filter.
type Operator struct{ s *Server }

// Operator returns the operator tools' view of s.
func (s *Server) Operator() Operator { return Operator{s} }
