package main

// Clients of the order tests beside listen.mjs: our Go client
// (internal/sio) and a raw client written here, frame by frame, over a
// plain websocket. Either keeps its socket across connections when asked:
// cut drops its connection as a network failure would, and it reconnects
// by itself with its pid and the last offset it received (connection state
// recovery), on either node.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/entreactive/reactive/internal/sio"
)

// sockConn is one Socket.IO connection of a liveClient.
type sockConn interface {
	// ids returns the socket id and the private session id ("" without
	// recovery) of the connect reply.
	ids() (sid, pid string)
	// emitWithAck sends an event and returns the ack's arguments.
	emitWithAck(ctx context.Context, event string, args ...any) ([]byte, error)
	// drop closes the connection as a network failure would: no
	// disconnect packet, no close handshake.
	drop()
	// close disconnects.
	close()
	// done is closed once the connection has ended and no event handler
	// runs any more; err then says why (nil after drop or close).
	done() <-chan struct{}
	err() error
}

// dialer connects to base with the connect packet's auth; onEvent gets
// each event as its JSON array (name first), on the connection's reader.
type dialer func(ctx context.Context, base string, auth map[string]any, onEvent func(data []byte)) (sockConn, error)

// clientKind is a kind of liveClient: how it dials, and whether it sends
// its token again with pid and offset when it reconnects (as
// socket.io-client sends its auth with them) or only pid and offset.
type clientKind struct {
	dial        dialer
	resendToken bool
}

// The kinds of liveClient: our Go client, which reconnects with pid and
// offset only, as our cluster tests do; the raw client, with its token too.
var (
	goKind  = clientKind{dial: dialGo}
	rawKind = clientKind{dial: dialRaw, resendToken: true}
)

// goConn is our Go client's connection.
type goConn struct{ c *sio.Conn }

func dialGo(ctx context.Context, base string, auth map[string]any, onEvent func([]byte)) (sockConn, error) {
	c, err := sio.Dial(ctx, sio.Config{URL: base, Auth: auth, OnEvent: func(_ string, data []byte) { onEvent(data) }})
	if err != nil {
		return nil, err
	}
	return goConn{c}, nil
}

func (g goConn) ids() (string, string) { return g.c.SID, g.c.PID }
func (g goConn) emitWithAck(ctx context.Context, event string, args ...any) ([]byte, error) {
	return g.c.EmitWithAck(ctx, event, args...)
}
func (g goConn) drop()                 { g.c.Drop() }
func (g goConn) close()                { _ = g.c.Close() }
func (g goConn) done() <-chan struct{} { return g.c.Done() }
func (g goConn) err() error            { return g.c.Err() }

// rawConn is a Socket.IO client written frame by frame over a plain
// websocket, sharing no code with the server or internal/sio: a fault of
// their packet code cannot hide from it. It speaks what a websocket-only
// client needs, and checks what it reads:
//
//	0{"sid":…,"pingInterval":…,"pingTimeout":…}   open (server)
//	2 → 3                                          ping, pong
//	40{"token":…} or 40{"pid":…,"offset":…}        connect (client)
//	40{"sid":…,"pid":…} / 44{"message":…}          its reply
//	42["event",…] / 42<id>["event",…] → 43<id>[]   events
//	42<id>["join","room"] → 43<id>[{…}]            an event with an ack
//	41 / 1                                         disconnect, close
//
// One Engine.IO packet a frame: anything else ends the connection with an
// error.
type rawConn struct {
	ws       *websocket.Conn
	sid, pid string
	onEvent  func([]byte)
	idle     time.Duration // ping interval + ping timeout

	wmu     sync.Mutex
	amu     sync.Mutex
	acks    map[int]chan []byte
	nextAck int

	ending atomic.Bool // drop or close
	end    chan struct{}
	fault  error // set before end is closed
}

// errRawServerClosed is the end of a raw connection by the server.
var errRawServerClosed = errors.New("raw: closed by the server")

func dialRaw(ctx context.Context, base string, auth map[string]any, onEvent func([]byte)) (sockConn, error) {
	u := "ws" + strings.TrimPrefix(base, "http") + "/socket.io/?EIO=4&transport=websocket"
	ws, resp, err := websocket.DefaultDialer.DialContext(ctx, u, nil)
	if err != nil {
		return nil, fmt.Errorf("raw: dial %s: %w", u, err)
	}
	resp.Body.Close()
	c := &rawConn{ws: ws, onEvent: onEvent, acks: make(map[int]chan []byte), end: make(chan struct{})}
	if err := c.connect(ctx, auth); err != nil {
		ws.Close()
		return nil, err
	}
	go c.read()
	return c, nil
}

// connect reads the open packet, sends the connect and reads its reply.
func (c *rawConn) connect(ctx context.Context, auth map[string]any) error {
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(10 * time.Second)
	}
	_ = c.ws.SetReadDeadline(deadline)
	_, frame, err := c.ws.ReadMessage()
	if err != nil {
		return fmt.Errorf("raw: open packet: %w", err)
	}
	var open struct {
		SID          string `json:"sid"`
		PingInterval int64  `json:"pingInterval"`
		PingTimeout  int64  `json:"pingTimeout"`
	}
	if len(frame) < 2 || frame[0] != '0' || json.Unmarshal(frame[1:], &open) != nil || open.SID == "" || open.PingInterval <= 0 {
		return fmt.Errorf("raw: open packet %q", frame)
	}
	c.idle = time.Duration(open.PingInterval+open.PingTimeout) * time.Millisecond
	payload, err := json.Marshal(auth)
	if err != nil {
		return err
	}
	if err := c.write(append([]byte("40"), payload...)); err != nil {
		return err
	}
	for {
		_, frame, err := c.ws.ReadMessage()
		if err != nil {
			return fmt.Errorf("raw: connect reply: %w", err)
		}
		switch {
		case string(frame) == "2":
			if err := c.write([]byte("3")); err != nil {
				return err
			}
		case bytes.HasPrefix(frame, []byte("40")):
			var reply struct{ SID, PID string }
			if json.Unmarshal(frame[2:], &reply) != nil || reply.SID == "" {
				return fmt.Errorf("raw: connect reply %q", frame)
			}
			c.sid, c.pid = reply.SID, reply.PID
			return c.ws.SetReadDeadline(time.Now().Add(c.idle))
		case bytes.HasPrefix(frame, []byte("44")):
			return fmt.Errorf("raw: connect refused: %s", frame[2:])
		default:
			return fmt.Errorf("raw: %q before the connect reply", frame)
		}
	}
}

// read handles the frames until the connection ends.
func (c *rawConn) read() {
	var err error
	for err == nil {
		var frame []byte
		if _, frame, err = c.ws.ReadMessage(); err == nil {
			err = c.handle(frame)
		}
	}
	if c.ending.Load() {
		err = nil
	}
	c.fault = err
	c.ws.Close()
	close(c.end)
}

// handle handles one frame; an error ends the connection.
func (c *rawConn) handle(frame []byte) error {
	switch {
	case string(frame) == "2":
		_ = c.ws.SetReadDeadline(time.Now().Add(c.idle))
		return c.write([]byte("3"))
	case string(frame) == "6": // noop
		return nil
	case string(frame) == "1", string(frame) == "41":
		return errRawServerClosed
	case len(frame) < 3 || frame[0] != '4':
		return fmt.Errorf("raw: unexpected frame %q", frame)
	}
	typ, rest := frame[1], frame[2:]
	if rest[0] == '/' {
		return fmt.Errorf("raw: packet of another namespace %q", frame)
	}
	n := 0
	for n < len(rest) && rest[n] >= '0' && rest[n] <= '9' {
		n++
	}
	id := -1
	if n > 0 {
		id, _ = strconv.Atoi(string(rest[:n]))
	}
	data := rest[n:]
	var args []json.RawMessage
	if json.Unmarshal(data, &args) != nil {
		return fmt.Errorf("raw: packet %q: its payload is not one JSON array", frame)
	}
	switch typ {
	case '2':
		var name string
		if len(args) == 0 || json.Unmarshal(args[0], &name) != nil {
			return fmt.Errorf("raw: event without a name %q", frame)
		}
		c.onEvent(data)
		if id >= 0 {
			return c.write([]byte("43" + strconv.Itoa(id) + "[]"))
		}
	case '3':
		c.amu.Lock()
		ch := c.acks[id]
		delete(c.acks, id)
		c.amu.Unlock()
		if ch == nil {
			return fmt.Errorf("raw: ack %d that nothing waits for", id)
		}
		ch <- bytes.Clone(data)
	default:
		return fmt.Errorf("raw: unexpected packet %q", frame)
	}
	return nil
}

func (c *rawConn) write(frame []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_ = c.ws.SetWriteDeadline(time.Now().Add(10 * time.Second))
	if err := c.ws.WriteMessage(websocket.TextMessage, frame); err != nil {
		return fmt.Errorf("raw: write: %w", err)
	}
	return nil
}

func (c *rawConn) ids() (string, string) { return c.sid, c.pid }

func (c *rawConn) emitWithAck(ctx context.Context, event string, args ...any) ([]byte, error) {
	arr, err := json.Marshal(append([]any{event}, args...))
	if err != nil {
		return nil, err
	}
	ch := make(chan []byte, 1)
	c.amu.Lock()
	id := c.nextAck
	c.nextAck++
	c.acks[id] = ch
	c.amu.Unlock()
	if err := c.write(append([]byte("42"+strconv.Itoa(id)), arr...)); err != nil {
		return nil, err
	}
	select {
	case ack := <-ch:
		return ack, nil
	case <-c.end:
		return nil, fmt.Errorf("raw: ack of %s: the connection ended (%v)", event, c.fault)
	case <-ctx.Done():
		return nil, fmt.Errorf("raw: ack of %s: %w", event, ctx.Err())
	}
}

func (c *rawConn) drop() {
	c.ending.Store(true)
	c.ws.NetConn().Close()
	<-c.end
}

func (c *rawConn) close() {
	c.ending.Store(true)
	_ = c.write([]byte("41"))
	c.ws.Close()
	<-c.end
}

func (c *rawConn) done() <-chan struct{} { return c.end }

func (c *rawConn) err() error {
	select {
	case <-c.end:
		return c.fault
	default:
		return nil
	}
}

// Reconnection of a liveClient: the client waits a moment, as
// socket.io-client does (listen.mjs --reconnect waits 20 to 100 ms too),
// and gives up after a while.
const (
	redialMin = 20 * time.Millisecond
	redialMax = 100 * time.Millisecond
	redialFor = 15 * time.Second
)

// liveClient is one socket of our Go client or the raw client, joined to
// rooms, recording the reactive events it receives. Without recovery, a
// connection that ends before the test does fails the client (its
// recorder reports it). With recovery, cut drops the connection and the
// client reconnects by itself, to either node of bases, with its pid and
// the last offset it received: it must get its socket back (same id and
// pid), or the client fails.
type liveClient struct {
	rec     *recorder
	kind    clientKind
	bases   []string
	token   string
	recover bool
	// ctx ends when the test stops the client.
	ctx    context.Context
	cancel context.CancelFunc

	mu       sync.Mutex
	conn     sockConn  // nil while the client has no connection
	since    time.Time // when conn connected
	sid, pid string
	offset   string // the last offset received
	closing  bool
	wg       sync.WaitGroup // the watchers of the connections
}

// rawClient is the raw client on base with token, joined to rooms; a
// connection that ends before the test does fails it.
func rawClient(t *testing.T, name, base, token string, rooms ...string) *recorder {
	t.Helper()
	return startLive(t, name, rawKind, []string{base}, token, false, rooms...).rec
}

// startLive connects a client to bases[0] with token and joins rooms.
func startLive(t *testing.T, name string, kind clientKind, bases []string, token string, recover bool, rooms ...string) *liveClient {
	t.Helper()
	c := &liveClient{rec: &recorder{name: name}, kind: kind, bases: bases, token: token, recover: recover}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	ctx, cancel := context.WithTimeout(c.ctx, 30*time.Second)
	defer cancel()
	conn, err := kind.dial(ctx, bases[0], map[string]any{"token": token}, c.onEvent)
	if err != nil {
		c.cancel()
		t.Fatalf("client %s: %v", name, err)
	}
	c.sid, c.pid = conn.ids()
	if recover && c.pid == "" {
		conn.close()
		c.cancel()
		t.Fatalf("client %s: the connect reply has no pid: the server does not recover connections", name)
	}
	c.conn, c.since = conn, time.Now()
	c.wg.Add(1)
	go c.watch(conn)
	t.Cleanup(c.stop)
	for _, room := range rooms {
		ack, err := conn.emitWithAck(ctx, "join", room)
		if err != nil || !bytes.Contains(ack, []byte(`"success":true`)) {
			t.Fatalf("client %s: join %s: %s %v", name, room, ack, err)
		}
	}
	return c
}

// onEvent records a reactive event and keeps the offset of every event
// that carries one (its last argument, a string), as socket.io-client
// does.
func (c *liveClient) onEvent(data []byte) {
	var args []json.RawMessage
	var name string
	if json.Unmarshal(data, &args) != nil || len(args) == 0 || json.Unmarshal(args[0], &name) != nil {
		c.rec.fail(fmt.Sprintf("bad event %s", data))
		return
	}
	var off string
	if len(args) >= 2 && json.Unmarshal(args[len(args)-1], &off) == nil {
		c.mu.Lock()
		c.offset = off
		c.mu.Unlock()
	}
	if name != "reactive" {
		return
	}
	var ev reactive
	if len(args) < 2 || json.Unmarshal(args[1], &ev) != nil {
		c.rec.fail(fmt.Sprintf("bad reactive event %s", data))
		return
	}
	ev.Offset = off
	c.rec.add(ev)
}

// cut drops the client's connection as a network failure would; it
// reports false, doing nothing, while the client has none or has had it
// for less than grace.
func (c *liveClient) cut(grace time.Duration) bool {
	c.mu.Lock()
	conn := c.conn
	if conn == nil || time.Since(c.since) < grace {
		c.mu.Unlock()
		return false
	}
	c.conn = nil
	c.mu.Unlock()
	c.rec.lost(time.Now())
	c.rec.note(time.Now(), "cut")
	conn.drop()
	return true
}

// watch waits for the end of conn, then reconnects with recovery, or
// reports the end.
func (c *liveClient) watch(conn sockConn) {
	defer c.wg.Done()
	<-conn.done()
	c.mu.Lock()
	closing := c.closing
	if c.conn == conn {
		c.conn = nil
	}
	c.mu.Unlock()
	switch {
	case closing:
		return
	case !c.recover:
		c.rec.fail(fmt.Sprintf("the connection ended: %v", conn.err()))
		return
	}
	c.rec.lost(time.Now())
	if err := conn.err(); err != nil {
		c.rec.note(time.Now(), "the connection ended: %v", err)
	}
	select {
	case <-c.ctx.Done():
		return
	case <-time.After(redialMin + rand.N(redialMax-redialMin)):
	}
	c.reconnect()
}

// reconnect dials a node again with the pid and the last offset until a
// connection opens, and checks that it recovered the socket.
func (c *liveClient) reconnect() {
	ctx, cancel := context.WithTimeout(c.ctx, redialFor)
	defer cancel()
	c.mu.Lock()
	sid, pid, off := c.sid, c.pid, c.offset
	c.mu.Unlock()
	auth := map[string]any{"pid": pid, "offset": off}
	if c.kind.resendToken {
		auth["token"] = c.token
	}
	c.rec.redial(time.Now())
	for {
		base := c.bases[rand.N(len(c.bases))]
		conn, err := c.kind.dial(ctx, base, auth, c.onEvent)
		if err != nil {
			c.rec.note(time.Now(), "dial %s: %v", base, err)
			if ctx.Err() != nil {
				if c.ctx.Err() == nil {
					c.rec.fail(fmt.Sprintf("no reconnection in %v: %v", redialFor, err))
				}
				return
			}
			time.Sleep(50 * time.Millisecond)
			continue
		}
		gotSID, gotPID := conn.ids()
		c.mu.Lock()
		if c.closing {
			c.mu.Unlock()
			conn.close()
			return
		}
		c.conn, c.since = conn, time.Now()
		c.wg.Add(1)
		c.mu.Unlock()
		go c.watch(conn)
		if gotSID != sid || gotPID != pid {
			c.rec.fail(fmt.Sprintf("reconnected to %s with pid %s and offset %s without recovery: a fresh socket %s (was %s)", base, pid, off, gotSID, sid))
			return
		}
		c.rec.recovered()
		c.rec.note(time.Now(), "recovered on %s (sid %s, pid %s, offset %s)", base, gotSID, gotPID, off)
		return
	}
}

// stop closes the client for good: no reconnection after it.
func (c *liveClient) stop() {
	c.mu.Lock()
	c.closing = true
	conn := c.conn
	c.mu.Unlock()
	c.cancel()
	if conn != nil {
		conn.close()
	}
	c.wg.Wait()
}
