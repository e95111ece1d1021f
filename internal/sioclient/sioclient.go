// Package sioclient is a small Socket.IO test client built on the
// zishang520 Go client: it records every event it receives and offers
// blocking, context-bounded helpers to wait for them.
package sioclient

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/zishang520/socket.io/clients/engine/v3/transports"
	"github.com/zishang520/socket.io/clients/socket/v3"
	serversocket "github.com/zishang520/socket.io/servers/socket/v3"
	"github.com/zishang520/socket.io/v3/pkg/types"
)

// Transport selects how a client connects.
type Transport int

// Transports.
const (
	// WebSocketOnly connects with websocket directly (the default).
	WebSocketOnly Transport = iota
	// Upgrade starts with HTTP long-polling and upgrades to websocket (the
	// browser default).
	Upgrade
	// PollingOnly never upgrades.
	PollingOnly
)

// String names the transport for subtests.
func (t Transport) String() string {
	switch t {
	case Upgrade:
		return "polling-upgrade"
	case PollingOnly:
		return "polling"
	default:
		return "websocket"
	}
}

// Options configure Dial.
type Options struct {
	// Transport defaults to WebSocketOnly.
	Transport Transport
	// Auth is the handshake auth payload (e.g. token, device_id).
	Auth map[string]any
	// Namespace is the namespace to connect to. Default "/".
	Namespace string
	// StaleOpenTimer is the timeout given to the Go client's own open
	// timer, which can outlive a successful open and then close the
	// connection (see Dial). Zero means an hour: no test lives that long,
	// but the timer's goroutine may outlive the client. Tests that check
	// for leaked goroutines set a few seconds and wait it out.
	StaleOpenTimer time.Duration
}

// ErrConnect wraps a connect_error sent by the server.
var ErrConnect = errors.New("sioclient: connect error")

// Client is one connected test socket.
type Client struct {
	sock *socket.Socket

	mu         sync.Mutex
	changed    chan struct{}
	events     map[string][][]any
	consumed   map[string]int
	disconnect string
	gone       bool
}

// errOpenTimeout is the error the Go client reports when its Engine.IO
// connection did not open in time.
const errOpenTimeout = "timeout"

// openTimeout is how long dialOnce waits for the Engine.IO connection to
// open before it gives up (and Dial tries again).
const openTimeout = 3 * time.Second

// Dial connects to url (e.g. "http://127.0.0.1:1234") and waits until the
// namespace is connected or refused.
//
// The zishang520 Go client (v3.0.6) subscribes to its engine's "open" event
// only after the engine has started connecting; on a fast loopback the
// event can fire first and the client then reports "timeout" although the
// server accepted the connection. Dial retries in that case. The same race
// has a second face that Dial cannot undo: when "open" fires after the
// subscription but before the client has registered the cleanup of its
// open timer, Dial succeeds and the timer, still armed, closes the
// connection from the client side when it expires; the server then sees
// "transport close". Dial therefore times the open itself and gives that
// timer an hour (Options.StaleOpenTimer).
func Dial(ctx context.Context, url string, o Options) (*Client, error) {
	for {
		c, err := dialOnce(ctx, url, o)
		if err == nil || !errors.Is(err, ErrConnect) || !strings.HasSuffix(err.Error(), ": "+errOpenTimeout) || ctx.Err() != nil {
			if err == nil && o.Transport == Upgrade {
				err = c.waitUpgrade(ctx)
			}
			return c, err
		}
	}
}

// waitUpgrade waits until the connection has moved from polling to
// websocket, so that tests of the upgrade path really run over it.
func (c *Client) waitUpgrade(ctx context.Context) error {
	for {
		if e := c.sock.Io().Engine(); e != nil {
			if tr := e.Transport(); tr != nil && tr.Name() == "websocket" && tr.Writable() {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			c.Close()
			return fmt.Errorf("sioclient: waiting for the websocket upgrade: %w", ctx.Err())
		case <-time.After(2 * time.Millisecond):
		}
	}
}

// Transport returns the name of the current transport.
func (c *Client) Transport() string {
	if e := c.sock.Io().Engine(); e != nil {
		if tr := e.Transport(); tr != nil {
			return tr.Name()
		}
	}
	return ""
}

func dialOnce(ctx context.Context, url string, o Options) (*Client, error) {
	opts := socket.DefaultOptions()
	opts.SetForceNew(true)
	opts.SetMultiplex(false)
	opts.SetReconnection(false)
	// The client's own open timer can outlive a successful open (see Dial)
	// and then close the connection: give it the deadline of
	// Options.StaleOpenTimer, and time the open here instead (openTimeout).
	if o.StaleOpenTimer > 0 {
		opts.SetTimeout(o.StaleOpenTimer)
	} else {
		opts.SetTimeout(time.Hour)
	}
	// Listeners must be in place before the connection opens, or a fast
	// server's first events are missed.
	opts.SetAutoConnect(false)
	switch o.Transport {
	case Upgrade:
		opts.SetTransports(types.NewSet[transports.TransportCtor](socket.Polling, socket.WebSocket))
	case PollingOnly:
		opts.SetTransports(types.NewSet[transports.TransportCtor](socket.Polling))
		opts.SetUpgrade(false)
	default:
		opts.SetTransports(types.NewSet[transports.TransportCtor](socket.WebSocket))
	}
	if o.Auth != nil {
		opts.SetAuth(o.Auth)
	}
	c := &Client{
		changed:  make(chan struct{}),
		events:   make(map[string][][]any),
		consumed: make(map[string]int),
	}
	result := make(chan error, 1)
	// Open the manager first and only then the socket: Socket.Connect on a
	// manager that opens concurrently can run its onopen twice and send two
	// CONNECT packets (zishang520 Go client v3.0.6).
	m := socket.NewManager(url, opts)
	opened := make(chan error, 1)
	m.Open(func(err error) { opened <- err })
	select {
	case err := <-opened:
		if err != nil {
			if e := m.Engine(); e != nil {
				e.Close()
			}
			return nil, fmt.Errorf("%w: %s", ErrConnect, err.Error())
		}
	case <-time.After(openTimeout):
		if e := m.Engine(); e != nil {
			e.Close()
		}
		return nil, fmt.Errorf("%w: %s", ErrConnect, errOpenTimeout)
	case <-ctx.Done():
		if e := m.Engine(); e != nil {
			e.Close()
		}
		return nil, fmt.Errorf("sioclient: dial: %w", ctx.Err())
	}
	nsp := o.Namespace
	if nsp == "" {
		nsp = "/"
	}
	sock := m.Socket(nsp, opts)
	c.sock = sock
	sock.OnAny(func(args ...any) {
		if len(args) == 0 {
			return
		}
		name, _ := args[0].(string)
		c.record(name, args[1:])
	})
	_ = sock.On("connect", func(...any) {
		select {
		case result <- nil:
		default:
		}
	})
	_ = sock.On("connect_error", func(args ...any) {
		msg := fmt.Sprint(args...)
		if len(args) > 0 {
			if e, ok := args[0].(error); ok {
				msg = e.Error()
			}
		}
		select {
		case result <- fmt.Errorf("%w: %s", ErrConnect, msg):
		default:
		}
	})
	_ = sock.On("disconnect", func(args ...any) {
		c.mu.Lock()
		c.gone = true
		if len(args) > 0 {
			c.disconnect = fmt.Sprint(args[0])
		}
		c.notifyLocked()
		c.mu.Unlock()
	})
	sock.Connect()
	select {
	case err := <-result:
		if err != nil {
			c.Close()
			return nil, err
		}
		return c, nil
	case <-ctx.Done():
		c.Close()
		return nil, fmt.Errorf("sioclient: dial: %w", ctx.Err())
	}
}

func (c *Client) record(name string, args []any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.events[name] = append(c.events[name], args)
	c.notifyLocked()
}

func (c *Client) notifyLocked() {
	close(c.changed)
	c.changed = make(chan struct{})
}

// ID returns the socket id.
func (c *Client) ID() string { return c.sock.Id() }

// Connected reports whether the socket is connected.
func (c *Client) Connected() bool { return c.sock.Connected() }

// Emit sends an event without ack.
func (c *Client) Emit(event string, args ...any) error { return c.sock.Emit(event, args...) }

// EmitAck sends an event and waits for the server's ack.
func (c *Client) EmitAck(ctx context.Context, event string, args ...any) ([]any, error) {
	res := make(chan []any, 1)
	ack := serversocket.Ack(func(a []any, err error) {
		if err == nil {
			res <- a
		}
	})
	if err := c.sock.Emit(event, append(args, ack)...); err != nil {
		return nil, err
	}
	select {
	case a := <-res:
		return a, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("sioclient: ack of %q: %w", event, ctx.Err())
	}
}

// Next waits for the next not yet consumed occurrence of event and returns
// its arguments.
func (c *Client) Next(ctx context.Context, event string) ([]any, error) {
	for {
		c.mu.Lock()
		if n := c.consumed[event]; n < len(c.events[event]) {
			c.consumed[event] = n + 1
			args := c.events[event][n]
			c.mu.Unlock()
			return args, nil
		}
		ch := c.changed
		c.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, fmt.Errorf("sioclient: waiting for %q: %w", event, ctx.Err())
		}
	}
}

// WaitCount waits until at least n occurrences of event were received.
func (c *Client) WaitCount(ctx context.Context, event string, n int) error {
	for {
		c.mu.Lock()
		got := len(c.events[event])
		ch := c.changed
		c.mu.Unlock()
		if got >= n {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("sioclient: waiting for %d %q (got %d): %w", n, event, got, ctx.Err())
		}
	}
}

// Events returns the arguments of every occurrence of event so far.
func (c *Client) Events(event string) [][]any {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([][]any(nil), c.events[event]...)
}

// Count returns how many occurrences of event were received.
func (c *Client) Count(event string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.events[event])
}

// WaitDisconnect waits until the socket is disconnected and returns the
// reason.
func (c *Client) WaitDisconnect(ctx context.Context) (string, error) {
	for {
		c.mu.Lock()
		gone, reason, ch := c.gone, c.disconnect, c.changed
		c.mu.Unlock()
		if gone {
			return reason, nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return "", fmt.Errorf("sioclient: waiting for disconnect: %w", ctx.Err())
		}
	}
}

// Close disconnects the socket and closes its connection.
func (c *Client) Close() {
	c.sock.Disconnect()
	if e := c.sock.Io().Engine(); e != nil {
		e.Close()
	}
}
