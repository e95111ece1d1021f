package loadgen

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"sync"
	"time"

	"github.com/entreactive/reactive/internal/sio"
	"github.com/gorilla/websocket"
)

// stalledConn is a client that authenticates and then stops reading for
// good, while it keeps sending Engine.IO pongs on its own schedule: to the
// server it is a live peer (its heartbeats arrive) that does not drain
// what it is sent, like a phone whose app froze. Its small receive buffer
// makes the kernel hold little for it, so what the server does with the
// backlog shows in the server's memory.
type stalledConn struct {
	ws      *websocket.Conn
	every   time.Duration // pong interval
	stalled time.Time     // when it stopped reading

	stop chan struct{}
	done chan struct{}
	// closedAfter is, once a pong could not be written (the server closed
	// the connection), the time from the stall to that write; set before
	// done is closed.
	closedAfter time.Duration
	closed      bool
}

// dialStalled opens a websocket, connects to "/", authenticates with token
// and returns once the server acknowledged it; from then on the
// connection is never read again. readBuffer is the socket's SO_RCVBUF.
func dialStalled(ctx context.Context, base, token string, readBuffer int) (*stalledConn, error) {
	u, err := url.Parse(base)
	if err != nil {
		return nil, fmt.Errorf("loadgen: stalled client: %w", err)
	}
	u.Scheme, u.Path, u.RawQuery = "ws", "/socket.io/", "EIO=4&transport=websocket"
	d := &websocket.Dialer{
		HandshakeTimeout: 10 * time.Second,
		ReadBufferSize:   1024,
		WriteBufferSize:  512,
		NetDialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := (&net.Dialer{Timeout: 10 * time.Second}).DialContext(ctx, network, addr)
			if tc, ok := c.(*net.TCPConn); ok && readBuffer > 0 {
				_ = tc.SetReadBuffer(readBuffer)
			}
			return c, err
		},
	}
	ws, resp, err := d.DialContext(ctx, u.String(), nil)
	if err != nil {
		return nil, fmt.Errorf("loadgen: stalled client: dial: %w", err)
	}
	if resp != nil && resp.Body != nil {
		resp.Body.Close()
	}
	sc := &stalledConn{ws: ws, stop: make(chan struct{}), done: make(chan struct{})}
	if err := sc.handshake(ctx, token); err != nil {
		ws.Close()
		return nil, err
	}
	sc.stalled = time.Now()
	go sc.pong()
	return sc, nil
}

// handshake reads the open packet, connects and authenticates, answering
// pings meanwhile.
func (sc *stalledConn) handshake(ctx context.Context, token string) error {
	deadline, ok := ctx.Deadline()
	if !ok || time.Until(deadline) > 15*time.Second {
		deadline = time.Now().Add(15 * time.Second)
	}
	_ = sc.ws.SetReadDeadline(deadline)
	_ = sc.ws.SetWriteDeadline(deadline)
	next := func() (byte, sio.Packet, error) {
		for {
			_, frame, err := sc.ws.ReadMessage()
			if err != nil {
				return 0, sio.Packet{}, fmt.Errorf("loadgen: stalled client: %w", err)
			}
			typ, payload, err := sio.ParseEngine(frame)
			if err != nil {
				return 0, sio.Packet{}, err
			}
			switch typ {
			case sio.EnginePing:
				if err := sc.ws.WriteMessage(websocket.TextMessage, []byte{sio.EnginePong}); err != nil {
					return 0, sio.Packet{}, err
				}
				continue
			case sio.EngineOpen:
				return typ, sio.Packet{Data: payload}, nil
			case sio.EngineMessage:
				p, err := sio.ParseSocket(payload)
				return typ, p, err
			case sio.EngineClose:
				return 0, sio.Packet{}, sio.ErrServerDisconnect
			}
		}
	}
	typ, open, err := next()
	if err != nil {
		return err
	}
	if typ != sio.EngineOpen {
		return fmt.Errorf("loadgen: stalled client: first packet %q is not open", typ)
	}
	var hello struct {
		PingInterval int64 `json:"pingInterval"`
	}
	if err := json.Unmarshal(open.Data, &hello); err != nil {
		return fmt.Errorf("loadgen: stalled client: open packet: %w", err)
	}
	// Pong well within the ping interval, and often enough to notice soon
	// when the server has closed the connection.
	sc.every = min(time.Duration(hello.PingInterval)*time.Millisecond/3, time.Second)
	if sc.every <= 0 {
		sc.every = time.Second
	}
	if err := sc.ws.WriteMessage(websocket.TextMessage, sio.AppendPacket(nil, sio.Connect, "/", sio.NoID, nil)); err != nil {
		return err
	}
	frame, err := sio.EncodeEvent("/", 1, "auth", token)
	if err != nil {
		return err
	}
	connected := false
	for {
		_, p, err := next()
		if err != nil {
			return err
		}
		switch {
		case p.Type == sio.Connect && !connected:
			connected = true
			if err := sc.ws.WriteMessage(websocket.TextMessage, frame); err != nil {
				return err
			}
		case p.Type == sio.ConnectErr:
			return &sio.ConnectError{Message: string(p.Data)}
		case p.Type == sio.Ack && p.ID == 1:
			var ack []struct {
				Success bool `json:"success"`
			}
			if json.Unmarshal(p.Data, &ack) != nil || len(ack) == 0 || !ack[0].Success {
				return fmt.Errorf("loadgen: stalled client: auth refused: %s", p.Data)
			}
			_ = sc.ws.SetReadDeadline(time.Time{})
			return nil
		}
	}
}

// pong writes an Engine.IO pong every sc.every until stop, or until a write
// fails because the server closed the connection.
func (sc *stalledConn) pong() {
	defer close(sc.done)
	t := time.NewTicker(sc.every)
	defer t.Stop()
	for {
		select {
		case <-sc.stop:
			return
		case <-t.C:
		}
		_ = sc.ws.SetWriteDeadline(time.Now().Add(5 * time.Second))
		if err := sc.ws.WriteMessage(websocket.TextMessage, []byte{sio.EnginePong}); err != nil {
			if !errors.Is(err, os.ErrDeadlineExceeded) {
				sc.closed, sc.closedAfter = true, time.Since(sc.stalled)
			}
			return
		}
	}
}

// finish stops the pongs and tells whether the server closed the
// connection: either a pong could not be written, or reading what the
// server queued ends in an error other than the idle timeout.
func (sc *stalledConn) finish(idle time.Duration) (closed bool, after time.Duration) {
	close(sc.stop)
	<-sc.done
	defer sc.ws.Close()
	if sc.closed {
		return true, sc.closedAfter
	}
	nc := sc.ws.NetConn()
	buf := make([]byte, 64<<10)
	for {
		_ = nc.SetReadDeadline(time.Now().Add(idle))
		if _, err := nc.Read(buf); err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				return false, 0 // still open: the server keeps it
			}
			return true, time.Since(sc.stalled)
		}
	}
}

// finishAll finishes every stalled connection in parallel.
func finishAll(conns []*stalledConn, idle time.Duration) (closed int, after []float64) {
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, sc := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, d := sc.finish(idle)
			if !c {
				return
			}
			mu.Lock()
			closed++
			after = append(after, d.Seconds())
			mu.Unlock()
		}()
	}
	wg.Wait()
	return closed, after
}
