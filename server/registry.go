package server

import "sync"

// registry is the server's own record of room membership. It replaces the
// library adapter's rooms: one mutex guards both directions, so a join that
// races a leave of the same room cannot lose the joiner (the library's
// adapter deletes a room that has just become empty while a concurrent join
// is adding to it), and a socket that is gone cannot be added back.
type registry struct {
	mu    sync.RWMutex
	rooms map[string]map[*Conn]struct{}
	conns map[*Conn]map[string]struct{}
}

func newRegistry() *registry {
	return &registry{
		rooms: make(map[string]map[*Conn]struct{}),
		conns: make(map[*Conn]map[string]struct{}),
	}
}

// add registers a connected socket with no rooms. It reports false if the
// socket is already registered.
func (r *registry) add(c *Conn) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.conns[c]; ok {
		return false
	}
	r.conns[c] = make(map[string]struct{})
	return true
}

// remove takes the socket out of every room and forgets it. It reports
// false if the socket was not registered (already removed).
func (r *registry) remove(c *Conn) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	rooms, ok := r.conns[c]
	if !ok {
		return false
	}
	for room := range rooms {
		r.delLocked(c, room)
	}
	delete(r.conns, c)
	return true
}

// join adds c to rooms. A socket that is not registered joins nothing.
func (r *registry) join(c *Conn, rooms ...string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	mine, ok := r.conns[c]
	if !ok {
		return false
	}
	for _, room := range rooms {
		if room == "" {
			continue
		}
		members := r.rooms[room]
		if members == nil {
			members = make(map[*Conn]struct{})
			r.rooms[room] = members
		}
		members[c] = struct{}{}
		mine[room] = struct{}{}
	}
	return true
}

// leave removes c from rooms.
func (r *registry) leave(c *Conn, rooms ...string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.conns[c]; !ok {
		return
	}
	for _, room := range rooms {
		r.delLocked(c, room)
	}
}

// leaveAllBut removes c from every room except those in keep.
func (r *registry) leaveAllBut(c *Conn, keep ...string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	mine, ok := r.conns[c]
	if !ok {
		return
	}
next:
	for room := range mine {
		for _, k := range keep {
			if room == k {
				continue next
			}
		}
		r.delLocked(c, room)
	}
}

func (r *registry) delLocked(c *Conn, room string) {
	if mine, ok := r.conns[c]; ok {
		delete(mine, room)
	}
	members, ok := r.rooms[room]
	if !ok {
		return
	}
	delete(members, c)
	if len(members) == 0 {
		delete(r.rooms, room)
	}
}

// members returns the sockets in any of rooms, each once.
func (r *registry) members(rooms ...string) []*Conn {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if len(rooms) == 1 {
		members := r.rooms[rooms[0]]
		out := make([]*Conn, 0, len(members))
		for c := range members {
			out = append(out, c)
		}
		return out
	}
	seen := make(map[*Conn]struct{})
	var out []*Conn
	for _, room := range rooms {
		for c := range r.rooms[room] {
			if _, dup := seen[c]; dup {
				continue
			}
			seen[c] = struct{}{}
			out = append(out, c)
		}
	}
	return out
}

// has reports whether c is in room.
func (r *registry) has(c *Conn, room string) bool {
	r.mu.RLock()
	defer r.mu.RUnlock()
	_, ok := r.rooms[room][c]
	return ok
}

// roomsOf returns the rooms c is in.
func (r *registry) roomsOf(c *Conn) []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]string, 0, len(r.conns[c]))
	for room := range r.conns[c] {
		out = append(out, room)
	}
	return out
}

// size returns the number of sockets in room.
func (r *registry) size(room string) int {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return len(r.rooms[room])
}

// count returns the number of registered sockets.
func (r *registry) count() int {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return len(r.conns)
}

// sizes returns every room with its size.
func (r *registry) sizes() map[string]int {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make(map[string]int, len(r.rooms))
	for room, members := range r.rooms {
		out[room] = len(members)
	}
	return out
}

// all returns every registered socket.
func (r *registry) all() []*Conn {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]*Conn, 0, len(r.conns))
	for c := range r.conns {
		out = append(out, c)
	}
	return out
}
