package server

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	"github.com/zishang520/socket.io/parsers/engine/v3/packet"
	"github.com/zishang520/socket.io/servers/engine/v3"
	"github.com/zishang520/socket.io/servers/engine/v3/transports"
	"github.com/zishang520/socket.io/servers/socket/v3"
	"github.com/zishang520/socket.io/v3/pkg/types"
)

// Workarounds for defects of github.com/zishang520/socket.io v3.0.6, all in
// this file so that a library upgrade is one review. Each is pinned by a
// test in defects_internal_test.go that fails without it (the poll left
// pending at a close, by TestPollingCloseAnswersThePendingPoll in
// pollclose_test.go).

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

// upgradeGuard lets each Engine.IO session upgrade to websocket once, to
// the first websocket that asks, and orders the session's polling
// requests after the websocket's packets that arrived before them.
//
// It guards against three defects of the library:
//
//   - It refuses a websocket upgrade of a session that is upgrading or
//     upgraded, but between the two flags (MaybeUpgrade clears "upgrading"
//     before it sets "upgraded") a second websocket with the same sid
//     passes both checks and is taken as a second upgrade (about 1 in
//     1,500 in the engine.io protocol suite's "same sid after upgrade"
//     test).
//   - It checks those flags only after switching protocols (101): a client
//     that opens a second websocket as soon as the first is open can have
//     the second taken for the upgrade and the first refused, and the
//     session is lost (49 and 67 of 1,000 tries in two runs of
//     TestSecondUpgradeNeverDisplacesTheFirst). The guard claims the sid
//     in a middleware, before the 101: the first websocket to ask wins.
//   - It handles every request on its own goroutine, so a polling request
//     sent after the websocket's probe and upgrade packets is often
//     handled before them (666 and 823 of 1,000 in two runs of
//     TestPollingAfterUpgradeIsRefused): it is answered as a poll of the
//     session (or, rarely, never: it registers with the polling transport
//     after the upgrade closed it), where the protocol refuses it (400),
//     as Node's engine.io does, having read the websocket first. While a
//     session has a websocket upgrade, its polling requests (and a second
//     websocket, which is refused) wait, at most settleTimeout, until the
//     websocket's reader has read everything received so far and the
//     answers are written (upgradedConn.settle).
//
// A claim made before the 101 is dropped if its request builds no
// transport; once built, a failed upgrade (the candidate closes while the
// session lives on another transport) releases it, and so does the end of
// the session.
type upgradeGuard struct {
	mu     sync.Mutex
	claims map[string]*upgradeClaim
	engine engine.BaseServer
}

// upgradeClaim is a session's claim to upgrade to websocket.
type upgradeClaim struct {
	ctx *types.HttpContext // the upgrade request holding it
	t   *wsTransport       // the request's transport, once built
	// built is closed once t is set or the claim is dropped; done records
	// that it is.
	built chan struct{}
	done  bool
}

// settleTimeout bounds how long a request waits for its session's
// upgrading websocket (see upgradeGuard.settle). It is a safety bound: the
// wait takes microseconds unless the machine is very busy.
const settleTimeout = time.Second

func newUpgradeGuard() *upgradeGuard {
	return &upgradeGuard{claims: make(map[string]*upgradeClaim)}
}

// watch installs the guard's middleware on eng and releases a session's
// claim when the session ends.
func (g *upgradeGuard) watch(eng engine.BaseServer) {
	g.mu.Lock()
	g.engine = eng
	g.mu.Unlock()
	eng.Use(g.middleware)
	_ = eng.On("connection", func(args ...any) {
		sock, ok := firstArg(args).(engine.Socket)
		if !ok {
			return
		}
		sid := sock.Id()
		_ = sock.Once("close", func(...any) { g.release(sid, nil) })
	})
}

// middleware runs on every Engine.IO request before the library looks at
// it: a websocket upgrade of a session claims the session; any other
// request of a session with an upgrading websocket, a polling request or
// a websocket upgrade that will be refused, first waits for that
// websocket (settle), so that its answer comes after the answers to the
// websocket's packets received before it (the probe's "3probe").
func (g *upgradeGuard) middleware(ctx *types.HttpContext, next func(error)) {
	if sid := ctx.Query().Peek("sid"); sid != "" {
		upgrade := websocket.IsWebSocketUpgrade(ctx.Request()) && ctx.Query().Peek("transport") == transports.WEBSOCKET
		if !upgrade || !g.claimEarly(sid, ctx) {
			g.settle(sid)
		}
	}
	next(nil)
}

// session returns the live session sid, if any.
func (g *upgradeGuard) session(sid string) (engine.Socket, bool) {
	g.mu.Lock()
	eng := g.engine
	g.mu.Unlock()
	if eng == nil {
		return nil, false
	}
	sess, ok := eng.Clients().Load(sid)
	if !ok || sess.ReadyState() == "closed" {
		return nil, false
	}
	return sess, true
}

// claimEarly claims session sid for the upgrade request ctx, before the
// library switches protocols, unless another request holds it (claim then
// refuses ctx's transport), and reports whether it did. The claim is
// dropped if ctx builds no transport: by the time the request's context
// is done (its handler has returned), it has built it if it ever will.
func (g *upgradeGuard) claimEarly(sid string, ctx *types.HttpContext) bool {
	g.mu.Lock()
	watching := g.engine != nil
	g.mu.Unlock()
	if _, live := g.session(sid); watching && !live {
		return false // the library refuses the upgrade itself
	}
	g.mu.Lock()
	if _, held := g.claims[sid]; held {
		g.mu.Unlock()
		return false
	}
	c := &upgradeClaim{ctx: ctx, built: make(chan struct{})}
	g.claims[sid] = c
	g.mu.Unlock()
	context.AfterFunc(ctx.Context(), func() {
		g.mu.Lock()
		defer g.mu.Unlock()
		if c.t == nil && g.claims[sid] == c {
			delete(g.claims, sid)
			g.doneLocked(c)
		}
	})
	return true
}

// claim reports whether t, built for the upgrade request ctx, may be the
// websocket transport of session sid: ctx holds the session's claim, or no
// request does (the middleware is not installed, or the request that held
// it failed and dropped it).
func (g *upgradeGuard) claim(sid string, ctx *types.HttpContext, t *wsTransport) bool {
	g.mu.Lock()
	c, held := g.claims[sid]
	switch {
	case held && (c.ctx != ctx || c.t != nil):
		g.mu.Unlock()
		return false
	case !held:
		c = &upgradeClaim{ctx: ctx, built: make(chan struct{})}
		g.claims[sid] = c
	}
	c.t = t
	g.doneLocked(c)
	g.mu.Unlock()
	_ = t.Once("close", func(...any) {
		if sess, ok := g.session(sid); ok && sess.Transport() != transports.Transport(t) {
			g.release(sid, c) // the upgrade failed; the session may try again
		}
	})
	return true
}

func (g *upgradeGuard) doneLocked(c *upgradeClaim) {
	if !c.done {
		c.done = true
		close(c.built)
	}
}

// release forgets session sid's claim: any claim, or only c when c is not
// nil.
func (g *upgradeGuard) release(sid string, c *upgradeClaim) {
	g.mu.Lock()
	defer g.mu.Unlock()
	held, ok := g.claims[sid]
	if !ok || c != nil && held != c {
		return
	}
	delete(g.claims, sid)
	g.doneLocked(held)
}

// settle returns once session sid's upgrading (or upgraded) websocket, if
// it has one, has handled every packet received before the call and
// written its answers, or after settleTimeout. (The library's "upgraded"
// flag is no sign that a request can go on at once: it is set before the
// transport is switched, while the polling transport still takes
// requests; and once the transport is switched, the answer to the probe
// may still be queued.)
func (g *upgradeGuard) settle(sid string) {
	g.mu.Lock()
	c := g.claims[sid]
	g.mu.Unlock()
	if c == nil {
		return
	}
	if _, ok := g.session(sid); !ok {
		return
	}
	deadline := time.Now().Add(settleTimeout)
	timer := time.NewTimer(settleTimeout)
	defer timer.Stop()
	select {
	case <-c.built:
	case <-timer.C:
		return
	}
	g.mu.Lock()
	t := c.t
	g.mu.Unlock()
	if t == nil || t.conn == nil {
		return
	}
	t.conn.settle(time.Until(deadline))
}

// strictPolling is the library's polling transport, except that a POST
// whose payload does not decode closes the session and is answered 400,
// and that a poll request the transport left pending when it closed is
// answered.
//
// It guards against two defects of the library: its polling transport
// drops a decoding error (POST "abc" is answered 200 "ok" and the session
// lives on), where the protocol closes the session; and its payload
// decoder skips empty packets, so an empty POST, or one with two
// separators in a row or a trailing one, is answered 200 "ok" too, where
// Node's engine.io decodes an empty packet as an error packet and closes
// the session. (Node's engine.io then destroys the request without an
// answer; the protocol suite accepts that or 400.)
//
// It guards against a third: a poll (GET) that reaches the transport while
// a close packet the client POSTed is closing it — after the close looked
// for a pending poll to answer with a noop, or after the transport closed —
// is registered and never answered: the client's request hangs until it
// gives up, and the server's handler with it (1 in 300 tries of a GET and
// a POST "1" sent together). Once the transport has closed, such a poll is
// answered "6" (a noop, what Node's engine.io answers a poll pending at a
// close), after pollCloseGrace, so that a close packet the library has
// queued for it goes out first.
type strictPolling struct {
	transports.Polling
	// post is the POST request being handled (OnRequest → OnData run on
	// the request's goroutine, one POST at a time); poll is the last GET,
	// answering the one answerPoll answers.
	post      atomic.Pointer[types.HttpContext]
	poll      atomic.Pointer[types.HttpContext]
	answering atomic.Pointer[types.HttpContext]
}

// pollCloseGrace is how long a poll left pending by a closed transport
// waits for the library's own answer.
const pollCloseGrace = 100 * time.Millisecond

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
	_ = p.Once("close", func(...any) { p.answerPoll() })
	return p
}

// OnRequest implements transports.Transport.
func (p *strictPolling) OnRequest(ctx *types.HttpContext) {
	switch ctx.Method() {
	case http.MethodPost:
		p.post.Store(ctx)
		defer p.post.Store(nil)
	case http.MethodGet:
		p.poll.Store(ctx)
		p.Polling.OnRequest(ctx)
		if p.ReadyState() == "closed" {
			p.answerPoll() // the close came first: nothing else will
		}
		return
	}
	p.Polling.OnRequest(ctx)
}

// answerPoll answers the last poll, after pollCloseGrace, with a noop
// unless the library has answered it by then. Each poll is answered once
// at most, however many times it is asked.
func (p *strictPolling) answerPoll() {
	ctx := p.poll.Load()
	if ctx == nil || ctx.IsDone() || p.answering.Swap(ctx) == ctx {
		return
	}
	time.AfterFunc(pollCloseGrace, func() {
		if ctx.IsDone() {
			return
		}
		_ = ctx.SetStatusCode(http.StatusOK)
		_, _ = ctx.Write([]byte("6")) // an Engine.IO NOOP
	})
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
