package server

import (
	"encoding/json"
	"fmt"
	"log/slog"

	"github.com/entreactive/reactive/entreactive"
	"github.com/zishang520/socket.io/servers/socket/v3"
	"github.com/zishang520/socket.io/v3/pkg/types"
)

// The data path, top to bottom:
//
//	Emit / EmitTo*  → encodeFrame (JSON once per event)
//	                → delivery.enqueue (bounded, never blocks; full → drop, log, count)
//	                → delivery.run (one goroutine: commit order)
//	                → registry.members (rooms → sockets, each once)
//	                → delivery.send (the one place bytes reach a socket)
//
// Events for one socket (connected, authenticated, Conn.Emit...) skip the
// queue but still go through encodeFrame and send. Replacing send (or run)
// with a faster broadcaster or transport touches nothing else.

// frame is one event encoded once, ready to write to any number of sockets.
type frame struct {
	event string
	// packet is the Socket.IO EVENT packet, `2["event",...args]`.
	packet []types.BufferInterface
	opts   *socket.WriteOptions
}

// encodeFrame encodes event and args as a Socket.IO EVENT packet. Args are
// encoded with encoding/json; a json.RawMessage goes in as it is.
func encodeFrame(event string, args ...any) (*frame, error) {
	data := make([]any, 0, len(args)+1)
	data = append(data, event)
	data = append(data, args...)
	body, err := json.Marshal(data)
	if err != nil {
		return nil, fmt.Errorf("server: encode %q: %w", event, err)
	}
	return newFrame(event, body), nil
}

// newFrame wraps an encoded JSON array `["event",...]` as a frame.
func newFrame(event string, body []byte) *frame {
	pkt := make([]byte, 0, len(body)+1)
	pkt = append(pkt, '2') // Socket.IO EVENT, default namespace
	pkt = append(pkt, body...)
	// "4" is the Engine.IO message type: a pre-encoded websocket frame
	// lets the library skip re-encoding per socket.
	ws := make([]byte, 0, len(pkt)+1)
	ws = append(ws, '4')
	ws = append(ws, pkt...)
	opts := &socket.WriteOptions{PreEncoded: true}
	opts.WsPreEncodedFrame = types.NewStringBuffer(ws)
	return &frame{
		event:  event,
		packet: []types.BufferInterface{types.NewStringBuffer(pkt)},
		opts:   opts,
	}
}

// job is one queued broadcast.
type job struct {
	rooms []string
	frame *frame
}

// delivery owns the bounded queue and the one path to the sockets.
type delivery struct {
	s     *Server
	queue chan job
}

func newDelivery(s *Server, size int) *delivery {
	return &delivery{s: s, queue: make(chan job, size)}
}

// enqueue queues a broadcast without ever blocking. When the queue is full
// the job is dropped: logged at warn level (with ev's model, action and id
// when it carries a reactive event; ev is nil otherwise), counted, and
// ErrQueueFull is returned. Dropping the newest event keeps the order of
// those delivered.
func (d *delivery) enqueue(j job, ev *entreactive.Event) error {
	if len(j.rooms) == 0 {
		return nil
	}
	select {
	case d.queue <- j:
		d.s.stats.queued.Add(1)
		return nil
	default:
		d.s.stats.dropped.Add(1)
		attrs := []slog.Attr{
			slog.String("event", j.frame.event),
			slog.Int("rooms", len(j.rooms)),
			slog.Int("queue_capacity", cap(d.queue)),
		}
		if ev != nil {
			attrs = append(attrs, eventAttrs(ev)...)
		}
		d.s.log.LogAttrs(d.s.ctx, slog.LevelWarn, "server: delivery queue full, event dropped", attrs...)
		return ErrQueueFull
	}
}

// run delivers queued broadcasts in order until done is closed. Events still
// queued at that point are discarded: their sockets are being closed.
func (d *delivery) run(done <-chan struct{}) {
	for {
		select {
		case <-done:
			return
		case j := <-d.queue:
			d.send(d.s.reg.members(j.rooms...), j.frame)
		}
	}
}

// depth returns the number of queued broadcasts.
func (d *delivery) depth() int { return len(d.queue) }

// send writes f to each connection. It is the only place where outgoing
// events reach the Socket.IO library. Writes are buffered by the library's
// transports: a slow client does not hold up the others.
func (d *delivery) send(conns []*Conn, f *frame) {
	for _, c := range conns {
		if c.closed.Load() {
			continue
		}
		c.sock.Client().WriteToEngine(f.packet, f.opts)
		d.s.stats.sent.Add(1)
	}
}
