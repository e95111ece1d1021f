package loadgen

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/entreactive/reactive/internal/sio"
	"github.com/gorilla/websocket"
)

// CheckLoopback refuses any target that is not on this machine's loopback
// range: a load test only ever talks to 127.0.0.0/8 or ::1.
func CheckLoopback(base string) error {
	u, err := url.Parse(base)
	if err != nil {
		return fmt.Errorf("loadgen: target %q: %w", base, err)
	}
	if u.Scheme != "http" {
		return fmt.Errorf("loadgen: target %q: only http:// on loopback", base)
	}
	host := u.Hostname()
	if host == "localhost" {
		return nil
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("loadgen: target %q is not a loopback address (127.0.0.0/8, ::1, localhost): refused", base)
	}
	return nil
}

// Env is what every scenario needs: the target, a shared HTTP client and
// websocket dialer, and the server's process id for its CPU and RSS.
type Env struct {
	// Base is the server's URL, e.g. http://127.0.0.1:8080 (loopback only).
	Base string
	// PID is the server process, 0 if unknown (no CPU or RSS figures).
	PID int
	// PIDLabel names PID in the per-process breakdown of a run with Procs
	// (default "server").
	PIDLabel string
	// Target labels the server in results.
	Target string
	// BusyThreshold is how many cores other processes may use during a
	// run before it is marked busy.
	BusyThreshold float64
	// Settle is the pause after the sockets connect, before the measured
	// phase, so the server's connection burst (and its GC) is over.
	Settle time.Duration
	// Tag makes this run's messages recognizable ("bm" + Tag + "-" + seq).
	Tag string
	// Nodes, when it holds more than one URL, are the nodes of a cluster
	// (Base is Nodes[0]): socket i logs in and connects at node i mod
	// len(Nodes), and Fanout posts each notification to a random node.
	// Every URL must be on loopback (SetNodes checks).
	Nodes []string
	// Procs are the other processes whose CPU and RSS count as the
	// server's: the cluster's other nodes and its Redis. Their CPU is
	// added to the server's and left out of the other processes' share.
	Procs []Proc

	http   *http.Client
	dialer *websocket.Dialer
}

// NewEnv checks the target and prepares the clients.
func NewEnv(base string, pid int, target string) (*Env, error) {
	if err := CheckLoopback(base); err != nil {
		return nil, err
	}
	tr := &http.Transport{
		Proxy:               nil,
		MaxIdleConns:        256,
		MaxIdleConnsPerHost: 256,
		// Below Node's http.Server keepAliveTimeout (5 s): a connection
		// idle for longer (e.g. from the login phase while the sockets
		// connect) may be closed by the Node server just as it is reused,
		// and a POST is not retried ("connection reset by peer").
		IdleConnTimeout: 4 * time.Second,
		DialContext:     (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
	}
	pool := &sync.Pool{}
	return &Env{
		Base:          base,
		PID:           pid,
		Target:        target,
		BusyThreshold: 0.15,
		Settle:        time.Second,
		Tag:           strconv.FormatInt(time.Now().UnixNano()%1e9, 36),
		http:          &http.Client{Transport: tr, Timeout: 30 * time.Second},
		dialer: &websocket.Dialer{
			HandshakeTimeout: 15 * time.Second,
			ReadBufferSize:   2048,
			WriteBufferSize:  512,
			WriteBufferPool:  pool,
			NetDialContext:   (&net.Dialer{Timeout: 10 * time.Second}).DialContext,
		},
	}, nil
}

// Proc is a process that serves the run besides Env.PID.
type Proc struct {
	Label string `json:"label"` // e.g. "node 2", "redis"
	PID   int    `json:"pid"`
}

// SetNodes makes the run a cluster run on the given node URLs, all on
// loopback; Base becomes the first.
func (e *Env) SetNodes(urls []string) error {
	if len(urls) == 0 {
		return fmt.Errorf("loadgen: no node URL")
	}
	for _, u := range urls {
		if err := CheckLoopback(u); err != nil {
			return err
		}
	}
	e.Base = urls[0]
	e.Nodes = append([]string(nil), urls...)
	return nil
}

// nodeCount is how many nodes the run talks to (1 without Nodes).
func (e *Env) nodeCount() int { return max(len(e.Nodes), 1) }

// nodeURL is the base URL of node i (Base without Nodes).
func (e *Env) nodeURL(i int) string {
	if len(e.Nodes) == 0 {
		return e.Base
	}
	return e.Nodes[i]
}

// sockNode is the node socket (or user index) i is served by.
func (e *Env) sockNode(i int) int { return i % e.nodeCount() }

// pids are every measured server-side process: PID first, then Procs.
func (e *Env) pids() []int {
	var out []int
	if e.PID > 0 {
		out = append(out, e.PID)
	}
	for _, p := range e.Procs {
		if p.PID > 0 {
			out = append(out, p.PID)
		}
	}
	return out
}

// Close releases idle HTTP connections.
func (e *Env) Close() { e.http.CloseIdleConnections() }

// postJSON posts body and decodes a JSON reply into out (if not nil),
// returning the status code.
func (e *Env) postJSON(ctx context.Context, path, token string, body, out any) (int, error) {
	return e.doJSON(ctx, http.MethodPost, path, token, body, out)
}

func (e *Env) doJSON(ctx context.Context, method, path, token string, body, out any) (int, error) {
	return e.doJSONAt(ctx, e.Base, method, path, token, body, out)
}

// doJSONAt is doJSON against the node at base.
func (e *Env) doJSONAt(ctx context.Context, base, method, path, token string, body, out any) (int, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, fmt.Errorf("loadgen: encode %s: %w", path, err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, base+path, rd)
	if err != nil {
		return 0, fmt.Errorf("loadgen: %s %s: %w", method, path, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := e.http.Do(req)
	if err != nil {
		return 0, fmt.Errorf("loadgen: %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return resp.StatusCode, fmt.Errorf("loadgen: %s %s: read: %w", method, path, err)
	}
	if out != nil && resp.StatusCode < 300 {
		if err := json.Unmarshal(b, out); err != nil {
			return resp.StatusCode, fmt.Errorf("loadgen: %s %s: decode %.100q: %w", method, path, b, err)
		}
	}
	return resp.StatusCode, nil
}

// login returns a token for user id from the node at base.
func (e *Env) login(ctx context.Context, base string, id int) (string, error) {
	var out struct {
		Token string `json:"token"`
	}
	code, err := e.doJSONAt(ctx, base, http.MethodPost, "/api/login", "", map[string]int{"user_id": id}, &out)
	if err != nil {
		return "", err
	}
	if code != http.StatusOK || out.Token == "" {
		return "", fmt.Errorf("loadgen: login %d: status %d", id, code)
	}
	return out.Token, nil
}

// loginAll logs users 1..n in, a few at a time; user i+1 at the node
// that serves socket i.
func (e *Env) loginAll(ctx context.Context, n int) ([]string, error) {
	tokens := make([]string, n)
	err := parallel(ctx, n, 16, func(ctx context.Context, i int) error {
		t, err := e.login(ctx, e.nodeURL(e.sockNode(i)), i+1)
		tokens[i] = t
		return err
	})
	return tokens, err
}

// connectAll opens one authenticated socket per token, socket i at node
// sockNode(i); handlers[i] receives socket i's events.
func (e *Env) connectAll(ctx context.Context, tokens []string, handlers []sio.EventHandler) ([]*sio.Conn, error) {
	conns := make([]*sio.Conn, len(tokens))
	err := parallel(ctx, len(tokens), 32, func(ctx context.Context, i int) error {
		c, err := sio.Dial(ctx, sio.Config{URL: e.nodeURL(e.sockNode(i)), Dialer: e.dialer, OnEvent: handlers[i]})
		if err != nil {
			return err
		}
		conns[i] = c
		reply, err := c.EmitWithAck(ctx, "auth", tokens[i])
		if err != nil {
			return err
		}
		args, err := sio.Args(reply)
		if err != nil {
			return err
		}
		var ack struct {
			Success bool   `json:"success"`
			Error   string `json:"error"`
		}
		if len(args) == 0 || json.Unmarshal(args[0], &ack) != nil || !ack.Success {
			return fmt.Errorf("loadgen: auth of socket %d refused: %s", i, reply)
		}
		return nil
	})
	if err != nil {
		closeAll(conns)
		return nil, err
	}
	return conns, nil
}

// closeAll closes every open connection, a few at a time, and waits.
func closeAll(conns []*sio.Conn) {
	_ = parallel(context.Background(), len(conns), 64, func(_ context.Context, i int) error {
		if conns[i] != nil {
			conns[i].Close()
		}
		return nil
	})
}

// brokenConns counts connections that ended on their own.
func brokenConns(conns []*sio.Conn) (n int, first error) {
	for _, c := range conns {
		select {
		case <-c.Done():
			n++
			if first == nil {
				first = c.Err()
			}
		default:
		}
	}
	return n, first
}

// parallel runs fn(i) for i in [0,n) on at most workers goroutines and
// returns the first error; the others stop taking work after it.
func parallel(ctx context.Context, n, workers int, fn func(context.Context, int) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		mu    sync.Mutex
		next  int
		first error
		wg    sync.WaitGroup
	)
	take := func() (int, bool) {
		mu.Lock()
		defer mu.Unlock()
		if next >= n || first != nil || ctx.Err() != nil {
			return 0, false
		}
		next++
		return next - 1, true
	}
	for range min(workers, n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i, ok := take()
				if !ok {
					return
				}
				if err := fn(ctx, i); err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
					cancel()
					return
				}
			}
		}()
	}
	wg.Wait()
	if first == nil && next < n {
		first = fmt.Errorf("loadgen: stopped after %d of %d: %w", next, n, ctx.Err())
	}
	return first
}

// tagOf finds this run's marker "bm<tag>-<seq>;" in data and returns seq,
// or -1 when data has no marker of this run.
func tagOf(data []byte, marker []byte) int {
	i := bytes.Index(data, marker)
	if i < 0 {
		return -1
	}
	n, j := 0, i+len(marker)
	for ; j < len(data) && data[j] >= '0' && data[j] <= '9'; j++ {
		n = n*10 + int(data[j]-'0')
		if n > 1<<30 {
			return -1
		}
	}
	if j == i+len(marker) || j >= len(data) || data[j] != ';' {
		return -1
	}
	return n
}

// marker is the prefix of this run's tags.
func (e *Env) marker() []byte { return []byte("bm" + e.Tag + "-") }

// tag is the marker for seq.
func (e *Env) tag(seq int) string { return "bm" + e.Tag + "-" + strconv.Itoa(seq) + ";" }
