// Package floor is the raw floor of the fan-out benchmark: a bare websocket
// broadcaster that speaks just enough of the socket protocol for the load
// tool (Engine.IO open, Socket.IO connect, "auth" with an ack) and, for each
// POST /api/notifications, writes one pre-encoded frame to every
// authenticated connection. No database, no rooms, no JSON per socket: what
// it costs is close to what the machine needs to push the bytes.
//
// It has two ways to write. The one-write floor (the default) writes each
// frame to each connection in its own syscall, as it is broadcast. The
// coalescing floor (Config.Coalesce) queues the frame on every connection
// and lets each connection's writer goroutine send everything queued in
// one writev: the least a Go server can spend per delivery when frames
// arrive faster than one write per frame can go out.
package floor

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/entreactive/reactive/internal/sio"
	"github.com/gorilla/websocket"
)

const openPacket = `0{"sid":"%s","upgrades":[],"pingInterval":300000,"pingTimeout":60000,"maxPayload":1000000}`

// Config configures a Server. The zero value is the one-write floor.
type Config struct {
	// Log receives the server's logs. Default slog.Default().
	Log *slog.Logger
	// Coalesce queues frames per connection and drains each queue in as
	// few writes as possible (writev) instead of one write per frame.
	Coalesce bool
	// MaxPending is, when coalescing, the most bytes queued for one
	// connection; past it the connection is closed. Default 1 MiB.
	MaxPending int
	// WriteTimeout bounds every write; a connection whose write does not
	// finish in time is closed. Default 10 s.
	WriteTimeout time.Duration
}

// Defaults of Config.
const (
	DefaultMaxPending   = 1 << 20
	DefaultWriteTimeout = 10 * time.Second
)

// Server is an http.Handler for /api/login, /api/notifications and
// /socket.io/. Close it to end every connection it holds.
type Server struct {
	log      *slog.Logger
	cfg      Config
	upgrader websocket.Upgrader
	nextID   atomic.Int64
	nextRow  atomic.Int64

	mu     sync.Mutex
	users  map[*conn]struct{} // authenticated sockets
	all    map[*conn]struct{}
	closed bool
	wg     sync.WaitGroup // one per connection's read goroutine (and writer, when coalescing)
	// targets is the snapshot of users that broadcasts read when
	// coalescing; nil after a change until the next broadcast rebuilds it.
	targets []*conn
}

// frame is one broadcast, encoded once for every connection.
type frame struct {
	pm   *websocket.PreparedMessage // one-write floor
	wire []byte                     // coalescing floor: the whole websocket frame
}

type conn struct {
	ws      *websocket.Conn
	timeout time.Duration
	wmu     sync.Mutex // one-write floor: serializes writes
	w       *writer    // coalescing floor
}

func (c *conn) write(f *frame) error {
	if c.w != nil {
		return c.w.enqueue(f.wire)
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_ = c.ws.SetWriteDeadline(time.Now().Add(c.timeout))
	return c.ws.WritePreparedMessage(f.pm)
}

func (c *conn) writeText(s string) error {
	if c.w != nil {
		return c.w.enqueue(textFrame([]byte(s)))
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_ = c.ws.SetWriteDeadline(time.Now().Add(c.timeout))
	return c.ws.WriteMessage(websocket.TextMessage, []byte(s))
}

// New returns a Server.
func New(cfg Config) *Server {
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.MaxPending <= 0 {
		cfg.MaxPending = DefaultMaxPending
	}
	if cfg.WriteTimeout <= 0 {
		cfg.WriteTimeout = DefaultWriteTimeout
	}
	return &Server{
		log:      cfg.Log,
		cfg:      cfg,
		upgrader: websocket.Upgrader{ReadBufferSize: 1024, WriteBufferSize: 1024, WriteBufferPool: &sync.Pool{}},
		users:    make(map[*conn]struct{}),
		all:      make(map[*conn]struct{}),
	}
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.URL.Path == "/socket.io/":
		s.serveSocket(w, r)
	case r.URL.Path == "/api/login" && r.Method == http.MethodPost:
		var in struct {
			UserID int `json:"user_id"`
		}
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil || in.UserID <= 0 {
			http.Error(w, `{"error":"user_id must be a positive integer"}`, http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"token":"user-%d"}`, in.UserID)
	case r.URL.Path == "/api/notifications" && r.Method == http.MethodPost:
		s.notify(w, r)
	default:
		http.NotFound(w, r)
	}
}

// notify encodes the event once and writes the same frame to every
// authenticated socket, then answers 201 with the row.
func (s *Server) notify(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Message string `json:"message"`
	}
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil || in.Message == "" {
		http.Error(w, `{"error":"message must be a non-empty string"}`, http.StatusBadRequest)
		return
	}
	now := time.Now()
	row := struct {
		ID        int64     `json:"id"`
		Message   string    `json:"message"`
		CreatedAt time.Time `json:"created_at"`
	}{s.nextRow.Add(1), in.Message, now.UTC()}
	event := map[string]any{"action": "create", "model": "Notification", "id": row.ID, "data": row, "timestamp": now.UnixMilli()}
	payload, err := sio.EncodeEvent("/", sio.NoID, "reactive", event)
	if err != nil {
		http.Error(w, `{"error":"encode"}`, http.StatusInternalServerError)
		return
	}
	var f frame
	if s.cfg.Coalesce {
		f.wire = textFrame(payload)
	} else if f.pm, err = websocket.NewPreparedMessage(websocket.TextMessage, payload); err != nil {
		http.Error(w, `{"error":"prepare"}`, http.StatusInternalServerError)
		return
	}
	for _, c := range s.broadcastTargets() {
		if err := c.write(&f); err != nil {
			c.ws.Close() // its read goroutine cleans up
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	_ = json.NewEncoder(w).Encode(row)
}

// broadcastTargets returns the authenticated connections. The one-write
// floor copies them for every broadcast, as it always has; the coalescing
// floor reuses a snapshot until the set changes.
func (s *Server) broadcastTargets() []*conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cfg.Coalesce && s.targets != nil {
		return s.targets
	}
	targets := make([]*conn, 0, len(s.users))
	for c := range s.users {
		targets = append(targets, c)
	}
	if s.cfg.Coalesce {
		s.targets = targets
	}
	return targets
}

func (s *Server) serveSocket(w http.ResponseWriter, r *http.Request) {
	ws, err := s.upgrader.Upgrade(w, r, nil)
	if err != nil {
		return // the upgrader answered
	}
	c := &conn{ws: ws, timeout: s.cfg.WriteTimeout}
	if s.cfg.Coalesce {
		c.w = newWriter(ws.NetConn(), s.cfg.MaxPending, s.cfg.WriteTimeout)
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		ws.Close()
		return
	}
	s.all[c] = struct{}{}
	s.wg.Add(1)
	if c.w != nil {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			c.w.run()
		}()
	}
	s.mu.Unlock()
	go s.readLoop(c)
}

// readLoop answers the handshake and "auth" until the socket goes away.
func (s *Server) readLoop(c *conn) {
	defer s.wg.Done()
	defer func() {
		s.mu.Lock()
		if _, ok := s.users[c]; ok {
			delete(s.users, c)
			s.targets = nil
		}
		delete(s.all, c)
		s.mu.Unlock()
		if c.w != nil {
			c.w.close()
		}
		c.ws.Close()
	}()
	id := strconv.FormatInt(s.nextID.Add(1), 36)
	if c.writeText(fmt.Sprintf(openPacket, "e"+id)) != nil {
		return
	}
	for {
		_, frame, err := c.ws.ReadMessage()
		if err != nil {
			return
		}
		typ, payload, err := sio.ParseEngine(frame)
		if err != nil || typ == sio.EngineClose {
			return
		}
		if typ != sio.EngineMessage {
			continue
		}
		p, err := sio.ParseSocket(payload)
		if err != nil {
			return
		}
		switch p.Type {
		case sio.Connect:
			if c.writeText(`40{"sid":"s`+id+`"}`) != nil {
				return
			}
			if c.writeText(fmt.Sprintf(`42["connected",{"socketId":"s%s","deviceId":null,"timestamp":%d}]`, id, time.Now().UnixMilli())) != nil {
				return
			}
		case sio.Event:
			name, _, err := sio.EventName(p.Data)
			if err != nil {
				return
			}
			if name == "auth" {
				s.mu.Lock()
				s.users[c] = struct{}{}
				s.targets = nil
				s.mu.Unlock()
				if p.ID != sio.NoID && c.writeText(string(sio.AppendPacket(nil, sio.Ack, "/", p.ID, []byte(`[{"success":true}]`)))) != nil {
					return
				}
			}
		case sio.Disconnect:
			return
		}
	}
}

// Close ends every connection and waits for their goroutines. It is safe
// to call more than once.
func (s *Server) Close() {
	s.mu.Lock()
	s.closed = true
	for c := range s.all {
		c.ws.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}
