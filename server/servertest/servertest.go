// Package servertest helps an application test its reactive events over a
// real socket: mint a token the server accepts, connect a Socket.IO client
// to the application's server, and wait for the events it receives.
//
//	token, err := servertest.Token(secret, 7, time.Hour)
//	...
//	c, err := servertest.Dial(ctx, httpServer.URL, servertest.Options{Token: token})
//	...
//	defer c.Close()
//	// ... create a row whose target function names user 7 ...
//	ev, err := c.WaitReactive(ctx, func(ev servertest.Reactive) bool { return ev.Model == "Message" })
//
// The client speaks Socket.IO v5 over a websocket, as a browser's
// socket.io-client does once upgraded; it needs no library types and no
// hand-written JWT code. The package is meant for tests: it is small and
// strict rather than complete (no reconnection, no binary attachments).
package servertest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/entreactive/reactive/internal/sio"
	"github.com/entreactive/reactive/server"
)

// Token returns an HS256 token for userID that expires after ttl (an hour
// when ttl is 0; a negative ttl gives an expired token), signed with secret: what a server configured with
// server.JWT{Secret: secret} accepts. The user id is the claim "id"; it may
// be an integer (1 or more, as the server requires by default) or a string.
func Token(secret []byte, userID any, ttl time.Duration) (string, error) {
	if ttl == 0 {
		ttl = time.Hour
	}
	claims := jwt.MapClaims{"id": userID, "exp": time.Now().Add(ttl).Unix()}
	token, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(secret)
	if err != nil {
		return "", fmt.Errorf("servertest: sign token: %w", err)
	}
	return token, nil
}

// Options configure Dial. The zero value connects a guest.
type Options struct {
	// Token, when set, authenticates the socket at connect (the handshake's
	// auth.token): it joins the "users" room and its user's room.
	Token string
	// DeviceID, when set, is the handshake's auth.device_id.
	DeviceID string
	// Path is the server's Socket.IO path. Default server.DefaultPath.
	Path string
}

// Client is one connected socket that records every event it receives.
// Its methods are safe for concurrent use. Close it when done.
type Client struct {
	conn *sio.Conn

	mu      sync.Mutex
	events  []received
	arrived chan struct{} // closed and replaced when an event arrives
}

// received is one event the client got.
type received struct {
	name  string
	args  []json.RawMessage
	taken bool // returned by a Wait already
}

// Dial connects to the server mounted at baseURL (e.g. an httptest
// server's URL) and returns once the server has set the socket up: it has
// received "connected" and, with a token, "authenticated". Those two
// events are consumed. ctx bounds the whole connect. A refused token fails
// with an error that says so; the server tells clients no more than
// "Invalid token", and (*server.Server).VerifyToken gives the reason.
func Dial(ctx context.Context, baseURL string, opts Options) (*Client, error) {
	c := &Client{arrived: make(chan struct{})}
	auth := map[string]any{}
	if opts.Token != "" {
		auth["token"] = opts.Token
	}
	if opts.DeviceID != "" {
		auth["device_id"] = opts.DeviceID
	}
	path := opts.Path
	if path == "" {
		path = server.DefaultPath
	}
	conn, err := sio.Dial(ctx, sio.Config{URL: baseURL, Path: path, Auth: auth, OnEvent: c.record})
	if err != nil {
		return nil, fmt.Errorf("servertest: dial %s: %w", baseURL, err)
	}
	c.conn = conn
	ready := []string{server.EventConnected}
	if opts.Token != "" {
		ready = append(ready, server.EventAuthenticated)
	}
	for _, name := range ready {
		if _, err := c.WaitEvent(ctx, name, nil); err != nil {
			conn.Close()
			return nil, err
		}
	}
	return c, nil
}

// record keeps an event; it runs on the connection's read goroutine.
func (c *Client) record(name string, data []byte) {
	args, err := sio.Args(data)
	if err != nil || len(args) == 0 {
		return // the connection's own parser has already checked the frame
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.events = append(c.events, received{name: name, args: args[1:]})
	close(c.arrived)
	c.arrived = make(chan struct{})
}

// WaitEvent returns the arguments of the first event named name that
// match accepts (nil accepts any) and that no earlier Wait returned,
// waiting for it when it has not arrived yet. It fails when ctx ends or the
// connection closes; the error lists the events received meanwhile. With a
// ctx that is already done it only looks at what has arrived, which tells
// "not received" once a later event has come.
//
// match runs while the client's records are locked: it must not call the
// Client.
func (c *Client) WaitEvent(ctx context.Context, name string, match func(args []json.RawMessage) bool) ([]json.RawMessage, error) {
	for {
		c.mu.Lock()
		for i := range c.events {
			ev := &c.events[i]
			if ev.taken || ev.name != name || (match != nil && !match(ev.args)) {
				continue
			}
			ev.taken = true
			c.mu.Unlock()
			return ev.args, nil
		}
		arrived := c.arrived
		c.mu.Unlock()

		select {
		case <-arrived:
		case <-ctx.Done():
			return nil, fmt.Errorf("servertest: wait for %q: %w (received: %s)", name, ctx.Err(), c.summary())
		case <-c.conn.Done():
			err := c.conn.Err()
			if err == nil {
				err = errors.New("closed")
			}
			return nil, fmt.Errorf("servertest: wait for %q: connection ended: %w (received: %s)", name, err, c.summary())
		}
	}
}

// summary lists the names of the events received so far.
func (c *Client) summary() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.events) == 0 {
		return "nothing"
	}
	names := make([]string, len(c.events))
	for i, ev := range c.events {
		names[i] = ev.name
	}
	return strings.Join(names, ", ")
}

// Reactive is a "reactive" event as a client receives it. Data is the row
// as sent (decode it with json.Unmarshal); Changed is set on updates.
type Reactive struct {
	Action    string          `json:"action"`
	Model     string          `json:"model"`
	ID        json.RawMessage `json:"id"`
	Data      json.RawMessage `json:"data"`
	Changed   []string        `json:"changed,omitzero"` // nil on creates and deletes: left out, as on the wire
	Timestamp int64           `json:"timestamp"`
}

// String formats the event for test logs and failure messages, e.g.
// `update Task 1 ["done"] {"id":1,"done":true}`.
func (r Reactive) String() string {
	changed := ""
	if r.Changed != nil {
		b, _ := json.Marshal(r.Changed) // strings always encode
		changed = " " + string(b)
	}
	return fmt.Sprintf("%s %s %s%s %s", r.Action, r.Model, r.ID, changed, r.Data)
}

// WaitReactive returns the first "reactive" event that match accepts (nil
// accepts any) and that no earlier Wait returned, as WaitEvent does.
func (c *Client) WaitReactive(ctx context.Context, match func(Reactive) bool) (Reactive, error) {
	var got Reactive
	_, err := c.WaitEvent(ctx, server.EventReactive, func(args []json.RawMessage) bool {
		var ev Reactive
		if len(args) == 0 || json.Unmarshal(args[0], &ev) != nil {
			return false
		}
		if match != nil && !match(ev) {
			return false
		}
		got = ev
		return true
	})
	return got, err
}

// Emit sends an event with its arguments JSON-encoded.
func (c *Client) Emit(event string, args ...any) error {
	if err := c.conn.Emit(event, args...); err != nil {
		return fmt.Errorf("servertest: emit %q: %w", event, err)
	}
	return nil
}

// EmitWithAck sends an event and returns the arguments of the server's
// ack, waiting at most until ctx ends.
func (c *Client) EmitWithAck(ctx context.Context, event string, args ...any) ([]json.RawMessage, error) {
	data, err := c.conn.EmitWithAck(ctx, event, args...)
	if err != nil {
		return nil, fmt.Errorf("servertest: emit %q: %w", event, err)
	}
	ack, err := sio.Args(data)
	if err != nil {
		return nil, fmt.Errorf("servertest: ack of %q: %w", event, err)
	}
	return ack, nil
}

// Join asks the server to add the socket to room (the "join" event) and
// returns an error when it refuses: the application's authorizer decides.
func (c *Client) Join(ctx context.Context, room string) error {
	ack, err := c.EmitWithAck(ctx, server.EventJoin, room)
	if err != nil {
		return err
	}
	var reply struct {
		Success bool   `json:"success"`
		Error   string `json:"error"`
	}
	if len(ack) == 0 || json.Unmarshal(ack[0], &reply) != nil {
		return fmt.Errorf("servertest: join %q: unexpected ack %s", room, ack)
	}
	if !reply.Success {
		return fmt.Errorf("servertest: join %q refused: %s", room, reply.Error)
	}
	return nil
}

// Close disconnects the socket and waits for its goroutine to end. It is
// safe to call more than once.
func (c *Client) Close() error {
	return c.conn.Close()
}
