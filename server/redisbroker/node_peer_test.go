package redisbroker

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// nodePeer is testdata/node/peer.mjs running as a child process: a Node
// socket.io server on the streams adapter, and clients of it.
type nodePeer struct {
	t     *testing.T
	stdin io.WriteCloser
	lines chan nodeLine
	URL   string
	UID   string // the adapter uid of namespace "/"

	mu   sync.Mutex
	seq  int
	seen []nodeLine // lines read but not yet waited for
}

// nodeLine is one JSON line of the peer.
type nodeLine struct {
	Step string          `json:"step"`
	Seq  int             `json:"seq"`
	Raw  json.RawMessage `json:"-"`
	Text string          `json:"-"`
}

// startNodePeer starts the peer on cfg's stream, channels and session keys.
// Without Node or the harness's node_modules the test is skipped, or fails
// when CI is set.
func startNodePeer(t *testing.T, cfg Config) *nodePeer {
	t.Helper()
	missing := func(why string) {
		msg := why + ": install the harness with `npm ci --prefix server/redisbroker/testdata/node`"
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		missing("node is not installed")
	}
	dir, err := filepath.Abs(filepath.Join("testdata", "node"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "@socket.io", "redis-streams-adapter", "package.json")); err != nil {
		missing("the Node harness is not installed in testdata/node/node_modules")
	}
	conf, _ := json.Marshal(map[string]any{
		"redis":            "redis://" + redisAddr,
		"streamName":       cfg.StreamName,
		"streamCount":      cfg.StreamCount,
		"channelPrefix":    cfg.ChannelPrefix,
		"sessionKeyPrefix": cfg.SessionKeyPrefix,
		"ttlMs":            cfg.SessionTTL.Milliseconds(),
	})
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, node, filepath.Join(dir, "peer.mjs"), string(conf))
	cmd.Dir = dir
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &nodePeer{t: t, stdin: stdin, lines: make(chan nodeLine, 1000)}
	go func() { // ends when the process closes stdout
		defer close(p.lines)
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			var l nodeLine
			if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
				l = nodeLine{Step: "garbage"}
			}
			l.Raw = append(json.RawMessage(nil), sc.Bytes()...)
			l.Text = sc.Text()
			p.lines <- l
		}
	}()
	t.Cleanup(func() {
		_ = stdin.Close() // the peer exits when stdin closes
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			cancel()
			<-done
		}
		cancel()
		if t.Failed() {
			t.Logf("node peer stderr:\n%s", stderr.String())
		}
	})
	var ready struct{ URL, UID string }
	p.decode(p.waitFor("ready", nil), &ready)
	p.URL, p.UID = ready.URL, ready.UID
	return p
}

// waitFor returns the first line of step ("": any) that match accepts
// (nil: any),
// leaving the lines it skips for later waits.
func (p *nodePeer) waitFor(step string, match func(nodeLine) bool) nodeLine {
	p.t.Helper()
	p.mu.Lock()
	for i, l := range p.seen {
		if (step == "" || l.Step == step) && (match == nil || match(l)) {
			p.seen = append(p.seen[:i:i], p.seen[i+1:]...)
			p.mu.Unlock()
			return l
		}
	}
	p.mu.Unlock()
	l, ok := p.next(step, match, 15*time.Second)
	if !ok {
		p.t.Fatalf("node peer: no %q line in 15 s; seen %d lines", step, len(p.seen))
	}
	return l
}

// next is waitFor without the lines already seen, and without failing when
// nothing matches within d.
func (p *nodePeer) next(step string, match func(nodeLine) bool, d time.Duration) (nodeLine, bool) {
	p.t.Helper()
	timeout := time.After(d)
	for {
		select {
		case l, ok := <-p.lines:
			if !ok {
				p.t.Fatalf("node peer exited while waiting for %q", step)
			}
			if (step == "" || l.Step == step) && (match == nil || match(l)) {
				return l, true
			}
			p.mu.Lock()
			p.seen = append(p.seen, l)
			p.mu.Unlock()
		case <-timeout:
			return nodeLine{}, false
		}
	}
}

// do sends a command and returns its result (raw JSON).
func (p *nodePeer) do(cmd string, args map[string]any) json.RawMessage {
	p.t.Helper()
	p.mu.Lock()
	p.seq++
	seq := p.seq
	p.mu.Unlock()
	c := map[string]any{"cmd": cmd, "seq": seq}
	for k, v := range args {
		c[k] = v
	}
	b, _ := json.Marshal(c)
	if _, err := fmt.Fprintf(p.stdin, "%s\n", b); err != nil {
		p.t.Fatal(err)
	}
	l := p.waitFor("", func(l nodeLine) bool { return (l.Step == "done" || l.Step == "failed") && l.Seq == seq })
	var reply struct {
		Result json.RawMessage
		Error  string
	}
	p.decode(l, &reply)
	if l.Step == "failed" {
		p.t.Fatalf("node peer: %s %s failed: %s", cmd, b, reply.Error)
	}
	return reply.Result
}

func (p *nodePeer) decode(l nodeLine, v any) {
	p.t.Helper()
	if err := json.Unmarshal(l.Raw, v); err != nil {
		p.t.Fatalf("node peer line %s: %v", l.Text, err)
	}
}
