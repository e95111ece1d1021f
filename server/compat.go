package server

import (
	"bytes"
	"errors"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/zishang520/socket.io/parsers/engine/v3/packet"
	"github.com/zishang520/socket.io/servers/engine/v3"
	"github.com/zishang520/socket.io/servers/engine/v3/transports"
	"github.com/zishang520/socket.io/servers/socket/v3"
	"github.com/zishang520/socket.io/v3/pkg/types"
)

// Workarounds for defects of github.com/zishang520/socket.io v3.0.6, all in
// this file so that a library upgrade is one review. Each is pinned by a
// test in defects_internal_test.go that fails without it.

// claimConnection records that the Engine.IO connection cl is getting its
// socket in namespace nsp. It reports false when cl already has one there, admitted or being
// admitted; otherwise release forgets the claim (call it when admission
// fails) and gone is closed when the connection closes, which releases
// the claim too.
//
// It guards against a defect of the library: it accepts a second CONNECT
// for the namespace while the first is still being admitted, which would
// give one client two sockets.
func (s *Server) claimConnection(cl *socket.Client, nsp string) (release func(), gone <-chan struct{}, ok bool) {
	key := nspClient{cl, nsp}
	if _, dup := s.engineConns.LoadOrStore(key, struct{}{}); dup {
		return nil, nil, false
	}
	release = func() { s.engineConns.Delete(key) }
	closed := make(chan struct{})
	onClose := sync.OnceFunc(func() {
		release()
		close(closed)
	})
	_ = cl.Conn().Once("close", func(...any) { onClose() })
	if cl.Conn().ReadyState() == "closed" {
		onClose()
	}
	return release, closed, true
}

// nspClient is an Engine.IO connection's claim on one namespace.
type nspClient struct {
	cl  *socket.Client
	nsp string
}

// awaitRecorded returns once the library has recorded socket id on its
// connection (connected is closed by onConnection), the connection is
// gone, or the server closes.
//
// It guards against a defect of the library (v3.0.6): namespace._doConnect
// writes the CONNECT reply before it records the socket on its connection
// (Client.nsps), on the socket's own task goroutine. A packet the client
// sends as soon as it reads the reply, if decoded before the socket is
// recorded, is taken for a packet of a namespace the client never
// connected to: the library closes the connection without a word (Client
// ondecoded, "invalid state"; the client sees websocket close 1006), and a
// second CONNECT would make a second socket. admit runs on the goroutine
// that reads the client's packets, so waiting here holds them back until
// the socket can receive them; they then reach it in order. The wait is
// bounded by ConnectTimeout in case the library never connects the socket
// and never closes the connection either.
func (s *Server) awaitRecorded(id string, connected, gone <-chan struct{}) {
	t := time.NewTimer(s.cfg.ConnectTimeout)
	defer t.Stop()
	select {
	case <-connected:
	case <-gone:
	case <-s.ctx.Done():
	case <-t.C:
		s.log.Warn("server: socket admitted but never connected", "socket", id)
	}
}

// upgradeGuard lets each Engine.IO session upgrade to websocket once.
//
// It guards against a defect of the library: it refuses a websocket
// upgrade of a session that is upgrading or upgraded, but between the two
// flags (MaybeUpgrade clears "upgrading" before it sets "upgraded") a
// second websocket with the same sid passes both checks and is taken as a
// second upgrade (about 1 in 1,500 in the engine.io protocol suite's "same
// sid after upgrade" test). The guard claims the sid when the first
// websocket transport of the session is built; a failed upgrade (the
// candidate closes while the session lives on another transport) releases
// it, and so does the end of the session.
type upgradeGuard struct {
	mu      sync.Mutex
	claimed map[string]struct{}
	engine  engine.BaseServer
}

func newUpgradeGuard() *upgradeGuard {
	return &upgradeGuard{claimed: make(map[string]struct{})}
}

// watch releases a session's claim when the session ends.
func (g *upgradeGuard) watch(eng engine.BaseServer) {
	g.mu.Lock()
	g.engine = eng
	g.mu.Unlock()
	_ = eng.On("connection", func(args ...any) {
		sock, ok := firstArg(args).(engine.Socket)
		if !ok {
			return
		}
		sid := sock.Id()
		_ = sock.Once("close", func(...any) { g.release(sid) })
	})
}

// claim reports whether t may be the websocket transport of session sid.
func (g *upgradeGuard) claim(sid string, t transports.Transport) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if _, dup := g.claimed[sid]; dup {
		return false
	}
	g.claimed[sid] = struct{}{}
	_ = t.Once("close", func(...any) {
		g.mu.Lock()
		eng := g.engine
		g.mu.Unlock()
		if eng == nil {
			return
		}
		if sess, ok := eng.Clients().Load(sid); ok && sess.ReadyState() != "closed" && sess.Transport() != t {
			g.release(sid) // the upgrade failed; the session may try again
		}
	})
	return true
}

func (g *upgradeGuard) release(sid string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	delete(g.claimed, sid)
}

// strictPolling is the library's polling transport, except that a POST
// whose payload does not decode closes the session and is answered 400.
//
// It guards against two defects of the library: its polling transport
// drops a decoding error (POST "abc" is answered 200 "ok" and the session
// lives on), where the protocol closes the session; and its payload
// decoder skips empty packets, so an empty POST, or one with two
// separators in a row or a trailing one, is answered 200 "ok" too, where
// Node's engine.io decodes an empty packet as an error packet and closes
// the session. (Node's engine.io then destroys the request without an
// answer; the protocol suite accepts that or 400.)
type strictPolling struct {
	transports.Polling
	// post is the POST request being handled (OnRequest → OnData run on
	// the request's goroutine, one POST at a time).
	post atomic.Pointer[types.HttpContext]
}

// pollingBuilder makes strictPolling transports (and the library's JSONP
// transport, as the library's builder does).
type pollingBuilder struct{ transports.PollingBuilder }

// New implements transports.TransportCtor.
func (*pollingBuilder) New(ctx *types.HttpContext) transports.Transport {
	if ctx.Query().Has("j") {
		return transports.NewJSONP(ctx)
	}
	p := &strictPolling{Polling: transports.MakePolling()}
	p.Prototype(p)
	p.Construct(ctx)
	return p
}

// OnRequest implements transports.Transport.
func (p *strictPolling) OnRequest(ctx *types.HttpContext) {
	if ctx.Method() == http.MethodPost {
		p.post.Store(ctx)
		defer p.post.Store(nil)
	}
	p.Polling.OnRequest(ctx)
}

// OnData implements transports.Transport.
func (p *strictPolling) OnData(data types.BufferInterface) {
	raw := data.Bytes()
	packets, err := p.Parser().DecodePayload(types.NewBytesBuffer(append([]byte(nil), raw...)))
	if err == nil && p.Protocol() == 4 && hasEmptyPacket(raw) {
		err = errors.New("server: empty packet in payload")
	}
	if err == nil {
		for _, pk := range packets {
			if pk.Type == packet.ERROR {
				err = errors.New("server: invalid packet")
				break
			}
		}
	}
	if err != nil {
		if ctx := p.post.Load(); ctx != nil {
			_ = ctx.SetStatusCode(http.StatusBadRequest)
			_, _ = ctx.Write(nil)
		}
		p.OnError("parse error", err)
		p.Close()
		return
	}
	p.Polling.OnData(data)
}

// hasEmptyPacket reports whether an Engine.IO v4 payload (packets joined
// by the record separator 0x1e) is empty or holds an empty packet.
func hasEmptyPacket(payload []byte) bool {
	for p := range bytes.SplitSeq(payload, []byte{0x1e}) {
		if len(p) == 0 {
			return true
		}
	}
	return false
}
