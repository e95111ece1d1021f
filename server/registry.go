package server

import (
	"sync"
	"sync/atomic"
)

// registry is the server's own record of room membership. It replaces the
// library adapter's rooms: one mutex guards both directions, so a join that
// races a leave of the same room cannot lose the joiner (the library's
// adapter deletes a room that has just become empty while a concurrent join
// is adding to it), and a socket that is gone cannot be added back.
type registry struct {
	// shards is the number of delivery shards; every socket belongs to
	// one (Conn.shard), assigned in turn.
	shards int
	next   int

	mu    sync.RWMutex
	rooms map[string]*room
	conns map[*Conn]map[string]struct{}
	// byID finds a socket by id: Socket.IO selects a socket by its id as
	// if it were a room (see Selector).
	byID map[string]*Conn

	// onChange, when set (before any socket is added), is told of every
	// membership change under mu; it must not block.
	onChange func(c *Conn)
	// observer, when set (see watch), is told of every membership change
	// under mu.
	observer atomic.Pointer[func(c *Conn, room string, joined bool)]
}

// room is one room's members and, built on demand, its member snapshot:
// per shard, an immutable slice of the members of that shard. A broadcast
// reads the snapshot without copying it; a join or leave drops it (the
// next broadcast to the room builds a new one), so a room that is not
// changing costs nothing per broadcast.
type room struct {
	members map[*Conn]struct{}
	snap    [][]*Conn
}

func newRegistry(shards int) *registry {
	if shards < 1 {
		shards = 1
	}
	return &registry{
		shards: shards,
		rooms:  make(map[string]*room),
		conns:  make(map[*Conn]map[string]struct{}),
		byID:   make(map[string]*Conn),
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
	r.byID[c.id] = c
	c.shard = r.next
	r.next = (r.next + 1) % r.shards
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
	if r.byID[c.id] == c {
		delete(r.byID, c.id)
	}
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
	for _, name := range rooms {
		if name == "" {
			continue
		}
		rm := r.rooms[name]
		if rm == nil {
			rm = &room{members: make(map[*Conn]struct{})}
			r.rooms[name] = rm
		}
		if _, in := rm.members[c]; !in {
			rm.members[c] = struct{}{}
			rm.snap = nil
			r.changed(c, name, true)
		}
		mine[name] = struct{}{}
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
	rm, ok := r.rooms[room]
	if !ok {
		return
	}
	if _, in := rm.members[c]; !in {
		return
	}
	delete(rm.members, c)
	rm.snap = nil
	if len(rm.members) == 0 {
		delete(r.rooms, room)
	}
	r.changed(c, room, false)
}

// watch makes fn the observer of membership changes: it is called under
// the registry's lock, in the order of the changes, and must not block.
func (r *registry) watch(fn func(c *Conn, room string, joined bool)) { r.observer.Store(&fn) }

// changed reports a membership change to the observer, if there is one.
func (r *registry) changed(c *Conn, room string, joined bool) {
	if r.onChange != nil {
		r.onChange(c)
	}
	if fn := r.observer.Load(); fn != nil {
		(*fn)(c, room, joined)
	}
}

// members returns the sockets in any of rooms, each once.
func (r *registry) members(rooms ...string) []*Conn {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if len(rooms) == 1 {
		rm := r.rooms[rooms[0]]
		if rm == nil {
			return nil
		}
		out := make([]*Conn, 0, len(rm.members))
		for c := range rm.members {
			out = append(out, c)
		}
		return out
	}
	seen := make(map[*Conn]struct{})
	var out []*Conn
	for _, room := range rooms {
		rm := r.rooms[room]
		if rm == nil {
			continue
		}
		for c := range rm.members {
			if _, dup := seen[c]; dup {
				continue
			}
			seen[c] = struct{}{}
			out = append(out, c)
		}
	}
	return out
}

// conn returns the registered socket with id, or nil.
func (r *registry) conn(id string) *Conn {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.byID[id]
}

// inAny reports whether c is in any of rooms, its own id counting as a
// room.
func (r *registry) inAny(c *Conn, rooms []string) bool {
	r.mu.RLock()
	defer r.mu.RUnlock()
	mine := r.conns[c]
	for _, room := range rooms {
		if room == c.id {
			return true
		}
		if _, ok := mine[room]; ok {
			return true
		}
	}
	return false
}

// has reports whether c is in room.
func (r *registry) has(c *Conn, room string) bool {
	r.mu.RLock()
	defer r.mu.RUnlock()
	rm := r.rooms[room]
	if rm == nil {
		return false
	}
	_, ok := rm.members[c]
	return ok
}

// roomsIfIn returns the rooms c is in, and whether it is registered.
func (r *registry) roomsIfIn(c *Conn) ([]string, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	mine, ok := r.conns[c]
	out := make([]string, 0, len(mine))
	for room := range mine {
		out = append(out, room)
	}
	return out, ok
}

// roomsOf returns the rooms c is in.
func (r *registry) roomsOf(c *Conn) []string {
	rooms, _ := r.roomsIfIn(c)
	return rooms
}

// size returns the number of sockets in room.
func (r *registry) size(room string) int {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if rm := r.rooms[room]; rm != nil {
		return len(rm.members)
	}
	return 0
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
	for name, rm := range r.rooms {
		out[name] = len(rm.members)
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

// snapshot returns the members of room that belong to shard. The slice is
// shared and must not be modified; it stays valid (as a snapshot) after
// the room changes.
func (r *registry) snapshot(name string, shard int) []*Conn {
	r.mu.RLock()
	rm := r.rooms[name]
	if rm == nil {
		r.mu.RUnlock()
		return nil
	}
	if snap := rm.snap; snap != nil {
		r.mu.RUnlock()
		return snap[shard]
	}
	r.mu.RUnlock()

	r.mu.Lock()
	defer r.mu.Unlock()
	rm = r.rooms[name]
	if rm == nil {
		return nil
	}
	if rm.snap == nil {
		rm.snap = r.buildSnapshot(rm)
	}
	return rm.snap[shard]
}

func (r *registry) buildSnapshot(rm *room) [][]*Conn {
	counts := make([]int, r.shards)
	for c := range rm.members {
		counts[c.shard]++
	}
	all := make([]*Conn, len(rm.members))
	snap := make([][]*Conn, r.shards)
	at := 0
	for i, n := range counts {
		snap[i] = all[at : at : at+n]
		at += n
	}
	for c := range rm.members {
		snap[c.shard] = append(snap[c.shard], c)
	}
	return snap
}
