package sio

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// Errors a Conn reports through Err or returns from its methods.
var (
	// ErrClosed is returned by calls on a Conn after Close.
	ErrClosed = errors.New("sio: connection closed")
	// ErrServerDisconnect means the server closed the Socket.IO session
	// (a 41 packet or an Engine.IO close).
	ErrServerDisconnect = errors.New("sio: disconnected by the server")
)

// ConnectError is returned by Dial when the server refuses the Socket.IO
// connect with a 44 packet.
type ConnectError struct {
	// Message is the server's "message" field, or the raw payload.
	Message string
}

func (e *ConnectError) Error() string { return "sio: connect refused: " + e.Message }

// EventHandler receives each event the server sends. It runs on the
// connection's read goroutine, so it must be quick and must not call the
// Conn's blocking methods; data (the whole JSON array, name included) is
// only valid during the call.
type EventHandler func(name string, data []byte)

// Config configures Dial.
type Config struct {
	// URL is the server's base URL, "http://127.0.0.1:8080" (ws:// and
	// wss:// are accepted too).
	URL string
	// Path is the Socket.IO path. Default "/socket.io/".
	Path string
	// Namespace to connect to. Default "/".
	Namespace string
	// Auth, when not nil, is sent JSON-encoded with the connect packet
	// (the client's handshake "auth" option).
	Auth any
	// Dialer dials the websocket. Default: a Dialer with a 10 s handshake
	// timeout and small buffers. Share one Dialer (with a WriteBufferPool)
	// across many connections to save memory.
	Dialer *websocket.Dialer
	// OnEvent receives server events. May be nil.
	OnEvent EventHandler
	// WriteTimeout bounds each write. Default 10 s.
	WriteTimeout time.Duration
}

// openPacket is the Engine.IO handshake payload.
type openPacket struct {
	SID          string `json:"sid"`
	PingInterval int64  `json:"pingInterval"`
	PingTimeout  int64  `json:"pingTimeout"`
}

// Conn is one Socket.IO connection over a websocket. Its methods are safe
// for concurrent use. A Conn owns one read goroutine, stopped by Close or
// when the server goes away.
type Conn struct {
	ws           *websocket.Conn
	nsp          string
	onEvent      EventHandler
	writeTimeout time.Duration
	idle         time.Duration // ping interval + ping timeout

	// EngineSID and SID are the Engine.IO session id and the Socket.IO
	// socket id the server assigned.
	EngineSID string
	SID       string
	// PID is the private session id the server sent for connection state
	// recovery ("" when it is off); a client sends it back, with the last
	// offset it received, in the auth of its next connect.
	PID string

	wmu sync.Mutex // serializes writes

	amu    sync.Mutex
	acks   map[int64]chan []byte
	nextID int64

	closeOnce sync.Once
	closing   atomic.Bool
	done      chan struct{}
	err       error // set before done is closed
}

// Dial opens a websocket to the server, completes the Engine.IO handshake
// and the Socket.IO connect, and starts the read goroutine. ctx bounds the
// whole handshake.
func Dial(ctx context.Context, cfg Config) (*Conn, error) {
	u, err := socketURL(cfg.URL, cfg.Path)
	if err != nil {
		return nil, err
	}
	d := cfg.Dialer
	if d == nil {
		d = &websocket.Dialer{HandshakeTimeout: 10 * time.Second, ReadBufferSize: 2048, WriteBufferSize: 1024}
	}
	ws, resp, err := d.DialContext(ctx, u, nil)
	if err != nil {
		return nil, fmt.Errorf("sio: dial %s: %w", u, err)
	}
	if resp != nil && resp.Body != nil {
		resp.Body.Close()
	}
	c := &Conn{
		ws:           ws,
		nsp:          cfg.Namespace,
		onEvent:      cfg.OnEvent,
		writeTimeout: cfg.WriteTimeout,
		acks:         make(map[int64]chan []byte),
		done:         make(chan struct{}),
	}
	if c.nsp == "" {
		c.nsp = "/"
	}
	if c.writeTimeout <= 0 {
		c.writeTimeout = 10 * time.Second
	}
	if err := c.handshake(ctx, cfg.Auth); err != nil {
		ws.Close()
		return nil, err
	}
	go c.readLoop()
	return c, nil
}

func socketURL(base, path string) (string, error) {
	u, err := url.Parse(base)
	if err != nil {
		return "", fmt.Errorf("sio: url %q: %w", base, err)
	}
	switch u.Scheme {
	case "http", "ws":
		u.Scheme = "ws"
	case "https", "wss":
		u.Scheme = "wss"
	default:
		return "", fmt.Errorf("sio: url %q: scheme must be http, https, ws or wss", base)
	}
	if path == "" {
		path = "/socket.io/"
	}
	if !strings.HasSuffix(path, "/") {
		path += "/"
	}
	u.Path = path
	u.RawQuery = "EIO=4&transport=websocket"
	return u.String(), nil
}

// handshake reads the open packet, sends the connect and waits for its
// reply, answering pings meanwhile.
func (c *Conn) handshake(ctx context.Context, auth any) error {
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(10 * time.Second)
	}
	if err := c.ws.SetReadDeadline(deadline); err != nil {
		return fmt.Errorf("sio: %w", err)
	}
	_, frame, err := c.ws.ReadMessage()
	if err != nil {
		return fmt.Errorf("sio: read open packet: %w", err)
	}
	typ, payload, err := ParseEngine(frame)
	if err != nil {
		return err
	}
	if typ != EngineOpen {
		return fmt.Errorf("%w: first packet is type %q, want open", ErrMalformed, typ)
	}
	var open openPacket
	if err := json.Unmarshal(payload, &open); err != nil {
		return fmt.Errorf("%w: open packet: %w", ErrMalformed, err)
	}
	c.EngineSID = open.SID
	c.idle = time.Duration(open.PingInterval+open.PingTimeout) * time.Millisecond
	if c.idle <= 0 {
		c.idle = 45 * time.Second
	}

	var data []byte
	if auth != nil {
		if data, err = json.Marshal(auth); err != nil {
			return fmt.Errorf("sio: encode auth: %w", err)
		}
	}
	if err := c.write(AppendPacket(nil, Connect, c.nsp, NoID, data)); err != nil {
		return err
	}
	for {
		_, frame, err := c.ws.ReadMessage()
		if err != nil {
			return fmt.Errorf("sio: read connect reply: %w", err)
		}
		typ, payload, err := ParseEngine(frame)
		if err != nil {
			return err
		}
		switch typ {
		case EnginePing:
			if err := c.write([]byte{EnginePong}); err != nil {
				return err
			}
			continue
		case EngineClose:
			return ErrServerDisconnect
		case EngineMessage:
		default:
			continue
		}
		p, err := ParseSocket(payload)
		if err != nil {
			return err
		}
		if p.Namespace != c.nsp {
			continue
		}
		switch p.Type {
		case Connect:
			var reply struct {
				SID string `json:"sid"`
				PID string `json:"pid"`
			}
			if len(p.Data) > 0 {
				if err := json.Unmarshal(p.Data, &reply); err != nil {
					return fmt.Errorf("%w: connect reply: %w", ErrMalformed, err)
				}
			}
			c.SID, c.PID = reply.SID, reply.PID
			return c.ws.SetReadDeadline(time.Now().Add(c.idle))
		case ConnectErr:
			var e struct {
				Message string `json:"message"`
			}
			if json.Unmarshal(p.Data, &e) != nil || e.Message == "" {
				e.Message = string(p.Data)
			}
			return &ConnectError{Message: e.Message}
		}
		// Anything else before the connect reply is ignored.
	}
}

// readLoop reads frames until the connection fails or is closed.
func (c *Conn) readLoop() {
	var buf []byte
	var err error
	for {
		var r io.Reader
		if _, r, err = c.ws.NextReader(); err != nil {
			break
		}
		buf, err = readAll(r, buf[:0])
		if err != nil {
			break
		}
		if err = c.dispatch(buf); err != nil {
			break
		}
	}
	c.shutdown(err)
}

// readAll reads r to its end into buf, growing it as needed.
func readAll(r io.Reader, buf []byte) ([]byte, error) {
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
}

// dispatch handles one frame; an error ends the connection.
func (c *Conn) dispatch(frame []byte) error {
	typ, payload, err := ParseEngine(frame)
	if err != nil {
		return err
	}
	switch typ {
	case EnginePing:
		if err := c.ws.SetReadDeadline(time.Now().Add(c.idle)); err != nil {
			return fmt.Errorf("sio: %w", err)
		}
		return c.write([]byte{EnginePong})
	case EngineClose:
		return ErrServerDisconnect
	case EngineMessage:
	default:
		return nil
	}
	p, err := ParseSocket(payload)
	if err != nil {
		return err
	}
	if p.Namespace != c.nsp {
		return nil
	}
	switch p.Type {
	case Event:
		if c.onEvent != nil {
			name, _, err := EventName(p.Data)
			if err != nil {
				return err
			}
			c.onEvent(name, p.Data)
		}
		if p.ID != NoID {
			// The server asked for an ack: answer with no arguments.
			return c.write(AppendPacket(nil, Ack, c.nsp, p.ID, []byte("[]")))
		}
	case Ack:
		c.amu.Lock()
		ch, ok := c.acks[p.ID]
		delete(c.acks, p.ID)
		c.amu.Unlock()
		if ok {
			ch <- append([]byte(nil), p.Data...) // buffered, never blocks
		}
	case Disconnect:
		return ErrServerDisconnect
	}
	return nil
}

func (c *Conn) write(frame []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if err := c.ws.SetWriteDeadline(time.Now().Add(c.writeTimeout)); err != nil {
		return fmt.Errorf("sio: %w", err)
	}
	if err := c.ws.WriteMessage(websocket.TextMessage, frame); err != nil {
		return fmt.Errorf("sio: write: %w", err)
	}
	return nil
}

// Emit sends an event without asking for an ack.
func (c *Conn) Emit(event string, args ...any) error {
	select {
	case <-c.done:
		return ErrClosed
	default:
	}
	frame, err := EncodeEvent(c.nsp, NoID, event, args...)
	if err != nil {
		return err
	}
	return c.write(frame)
}

// EmitWithAck sends an event and waits for the server's ack, returning its
// arguments as a JSON array. It gives up when ctx ends or the connection
// closes.
func (c *Conn) EmitWithAck(ctx context.Context, event string, args ...any) ([]byte, error) {
	ch := make(chan []byte, 1)
	c.amu.Lock()
	id := c.nextID
	c.nextID++
	c.acks[id] = ch
	c.amu.Unlock()
	forget := func() {
		c.amu.Lock()
		delete(c.acks, id)
		c.amu.Unlock()
	}
	frame, err := EncodeEvent(c.nsp, id, event, args...)
	if err != nil {
		forget()
		return nil, err
	}
	select {
	case <-c.done:
		forget()
		return nil, ErrClosed
	default:
	}
	if err := c.write(frame); err != nil {
		forget()
		return nil, err
	}
	select {
	case data := <-ch:
		return data, nil
	case <-ctx.Done():
		forget()
		return nil, fmt.Errorf("sio: ack for %q: %w", event, ctx.Err())
	case <-c.done:
		forget()
		return nil, fmt.Errorf("sio: ack for %q: %w", event, ErrClosed)
	}
}

// Done is closed when the connection has ended and its read goroutine has
// returned.
func (c *Conn) Done() <-chan struct{} { return c.done }

// Err tells why the connection ended: nil while it is open or after a
// plain Close.
func (c *Conn) Err() error {
	select {
	case <-c.done:
		return c.err
	default:
		return nil
	}
}

// Close sends a Socket.IO disconnect, closes the websocket and waits for
// the read goroutine to return. It is safe to call more than once.
func (c *Conn) Close() error {
	c.closeOnce.Do(func() {
		c.closing.Store(true)
		c.wmu.Lock()
		_ = c.ws.SetWriteDeadline(time.Now().Add(time.Second))
		_ = c.ws.WriteMessage(websocket.TextMessage, AppendPacket(nil, Disconnect, c.nsp, NoID, nil))
		c.wmu.Unlock()
		c.ws.Close()
	})
	<-c.done
	return nil
}

// Drop closes the connection abruptly, as a network failure would: no
// Socket.IO disconnect, no websocket close handshake. It waits for the
// read goroutine to return.
func (c *Conn) Drop() {
	c.closeOnce.Do(func() {
		c.closing.Store(true)
		c.ws.NetConn().Close()
	})
	<-c.done
}

// shutdown records why the read loop ended and releases waiters.
func (c *Conn) shutdown(err error) {
	c.closeOnce.Do(func() {}) // a later Close must not write
	var ce *websocket.CloseError
	switch {
	case c.closing.Load():
		err = nil // ended by Close
	case errors.Is(err, ErrServerDisconnect):
	case errors.As(err, &ce):
		err = fmt.Errorf("%w: %w", ErrServerDisconnect, err)
	}
	c.err = err
	c.ws.Close()
	close(c.done)
}
