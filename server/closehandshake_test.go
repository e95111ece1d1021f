package server_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/entreactive/reactive/server"
)

// wsCloseResult is one line of testdata/node/closecode.mjs: what a Node
// `ws` client saw of one connection.
type wsCloseResult struct {
	Code    int      `json:"code"`
	Reason  string   `json:"reason"`
	Packets []string `json:"packets"`
	Error   *string  `json:"error"`
}

// nodeCloseCodes runs testdata/node/closecode.mjs against url in mode for
// count connections and returns what the client saw of each.
func nodeCloseCodes(t *testing.T, url, mode string, count int) []wsCloseResult {
	t.Helper()
	node, harness := nodeHarness(t)
	dir := filepath.Dir(harness)
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "ws", "package.json")); err != nil {
		t.Skip("ws is not installed in testdata/node/node_modules: install the harness with `npm ci --prefix server/testdata/node`")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, filepath.Join(dir, "closecode.mjs"), url, mode, strconv.Itoa(count))
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("closecode.mjs %s: %v\n%s", mode, err, stderr.String())
	}
	var results []wsCloseResult
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		var r wsCloseResult
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("closecode.mjs printed %q", sc.Text())
		}
		results = append(results, r)
	}
	if len(results) != count {
		t.Fatalf("closecode.mjs reported %d connections of %d\n%s", len(results), count, stderr.String())
	}
	return results
}

// TestNodeClientCloseIsEchoed: a Node `ws` client that closes its
// websocket gets the close frame back with the same status, as from
// Node's own servers (RFC 6455 §5.5.1), instead of a dropped connection
// (1006).
func TestNodeClientCloseIsEchoed(t *testing.T) {
	_, url := startServer(t, server.Config{})
	for _, tc := range []struct {
		mode   string
		count  int
		code   int
		reason string
	}{
		{"close-1000", 20, 1000, ""},
		{"close-4000", 5, 4000, "bye"},
		{"close-none", 5, 1005, ""}, // an empty close frame comes back
	} {
		t.Run(tc.mode, func(t *testing.T) {
			wrong := 0
			for i, r := range nodeCloseCodes(t, url, tc.mode, tc.count) {
				if r.Code != tc.code || r.Reason != tc.reason {
					wrong++
					t.Errorf("connection %d: client saw close %d %q (error %v), want %d %q", i, r.Code, r.Reason, deref(r.Error), tc.code, tc.reason)
				}
			}
			if wrong > 0 {
				t.Logf("%d of %d connections wrong", wrong, tc.count)
			}
		})
	}
}

// TestNodeClientInvalidUTF8Gets1007: a text frame that is not UTF-8 is
// answered with close 1007, as Node's `ws` does.
func TestNodeClientInvalidUTF8Gets1007(t *testing.T) {
	_, url := startServer(t, server.Config{})
	for i, r := range nodeCloseCodes(t, url, "utf8", 5) {
		if r.Code != 1007 {
			t.Errorf("connection %d: client saw close %d %q (error %v), want 1007", i, r.Code, r.Reason, deref(r.Error))
		}
	}
}

// TestNodeClientSeesServerCloseAfterQueuedFrames: when the server closes a
// connection, what it queued before goes out first, then a close frame
// with 1000.
func TestNodeClientSeesServerCloseAfterQueuedFrames(t *testing.T) {
	srv, url := startServer(t, server.Config{})
	srv.OnConnect(func(_ context.Context, c *server.Conn) {
		for i := range 3 {
			if err := c.Emit("last", i); err != nil {
				t.Error(err)
			}
		}
		c.Disconnect()
	})
	for i, r := range nodeCloseCodes(t, url, "wait", 5) {
		var last []string
		for _, p := range r.Packets {
			if strings.HasPrefix(p, `42["last"`) {
				last = append(last, p)
			}
		}
		want := []string{`42["last",0]`, `42["last",1]`, `42["last",2]`}
		if strings.Join(last, " ") != strings.Join(want, " ") {
			t.Errorf("connection %d: packets %q, want %q among them", i, r.Packets, want)
		}
		if r.Code != 1000 {
			t.Errorf("connection %d: client saw close %d %q (error %v), want 1000", i, r.Code, r.Reason, deref(r.Error))
		}
	}
}

func deref(s *string) string {
	if s == nil {
		return "none"
	}
	return *s
}

// dialEngine opens a raw websocket to the server's Engine.IO endpoint and
// reads the open packet. The returned net.Conn is the client's connection,
// for writing frames gorilla would refuse to send.
func dialEngine(t *testing.T, baseURL string) (*websocket.Conn, net.Conn) {
	t.Helper()
	var nc net.Conn
	d := &websocket.Dialer{NetDial: func(network, addr string) (net.Conn, error) {
		c, err := net.Dial(network, addr)
		nc = c
		return c, err
	}}
	u := "ws" + strings.TrimPrefix(baseURL, "http") + "/socket.io/?EIO=4&transport=websocket"
	ws, resp, err := d.Dial(u, nil)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	resp.Body.Close()
	t.Cleanup(func() { ws.Close() })
	_ = ws.SetReadDeadline(time.Now().Add(wait))
	if _, b, err := ws.ReadMessage(); err != nil || !strings.HasPrefix(string(b), "0{") {
		t.Fatalf("open packet %q, %v", b, err)
	}
	return ws, nc
}

// closeCodeSeen reads from ws until it fails and returns the close code
// the client saw (1006 when the connection ended without a close frame).
func closeCodeSeen(t *testing.T, ws *websocket.Conn) (int, string) {
	t.Helper()
	ws.SetCloseHandler(func(int, string) error { return nil }) // do not answer
	_ = ws.SetReadDeadline(time.Now().Add(wait))
	for {
		_, _, err := ws.ReadMessage()
		if err == nil {
			continue
		}
		var ce *websocket.CloseError
		if errors.As(err, &ce) {
			return ce.Code, ce.Text
		}
		t.Fatalf("read: %v, want a close frame", err)
	}
}

// TestClientCloseIsEchoed is TestNodeClientCloseIsEchoed with a Go client.
func TestClientCloseIsEchoed(t *testing.T) {
	_, url := startServer(t, server.Config{})
	for _, tc := range []struct {
		name   string
		frame  []byte
		code   int
		reason string
	}{
		{"1000", websocket.FormatCloseMessage(1000, ""), 1000, ""},
		{"4001 with reason", websocket.FormatCloseMessage(4001, "done"), 4001, "done"},
		{"no status", nil, websocket.CloseNoStatusReceived, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ws, _ := dialEngine(t, url)
			if err := ws.WriteControl(websocket.CloseMessage, tc.frame, time.Now().Add(wait)); err != nil {
				t.Fatal(err)
			}
			if code, reason := closeCodeSeen(t, ws); code != tc.code || reason != tc.reason {
				t.Fatalf("client saw close %d %q, want %d %q", code, reason, tc.code, tc.reason)
			}
		})
	}
}

// TestBadFramesAreAnsweredWithTheirCloseCode: the server fails the
// connection as RFC 6455 §7.1.7 says, with a close frame carrying the
// reason, like Node's `ws`.
func TestBadFramesAreAnsweredWithTheirCloseCode(t *testing.T) {
	_, url := startServer(t, server.Config{MaxPayload: 1000})
	mask := []byte{1, 2, 3, 4}
	masked := func(header []byte, payload []byte) []byte {
		b := append(append([]byte(nil), header...), mask...)
		for i, c := range payload {
			b = append(b, c^mask[i%4])
		}
		return b
	}
	for _, tc := range []struct {
		name string
		send func(ws *websocket.Conn, nc net.Conn) error
		code int
	}{
		{"text not UTF-8", func(ws *websocket.Conn, _ net.Conn) error {
			return ws.WriteMessage(websocket.TextMessage, []byte{'4', 0xff, 0xfe})
		}, websocket.CloseInvalidFramePayloadData},
		{"RSV2 set", func(_ *websocket.Conn, nc net.Conn) error {
			_, err := nc.Write(masked([]byte{0x80 | 0x20 | 0x1, 0x80 | 1}, []byte("4")))
			return err
		}, websocket.CloseProtocolError},
		{"message over MaxPayload", func(ws *websocket.Conn, _ net.Conn) error {
			return ws.WriteMessage(websocket.TextMessage, []byte("4"+strings.Repeat("x", 2000)))
		}, websocket.CloseMessageTooBig},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ws, nc := dialEngine(t, url)
			if err := tc.send(ws, nc); err != nil {
				t.Fatal(err)
			}
			if code, _ := closeCodeSeen(t, ws); code != tc.code {
				t.Fatalf("client saw close %d, want %d", code, tc.code)
			}
		})
	}
}

// TestServerCloseWaitsForTheClientsAnswer: after its close frame, the
// server keeps the connection until the client answers (RFC 6455 §7.1.1:
// the client then sees the server close first, cleanly), then closes it.
func TestServerCloseWaitsForTheClientsAnswer(t *testing.T) {
	srv, url := startServer(t, server.Config{})
	srv.OnConnect(func(_ context.Context, c *server.Conn) { c.Disconnect() })
	ws, nc := dialEngine(t, url)
	if err := ws.WriteMessage(websocket.TextMessage, []byte("40")); err != nil {
		t.Fatal(err)
	}
	if code, _ := closeCodeSeen(t, ws); code != websocket.CloseNormalClosure {
		t.Fatalf("client saw close %d, want 1000", code)
	}
	var b [1]byte
	_ = nc.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	if n, err := nc.Read(b[:]); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("before the client answered: read %d bytes, %v; want the connection open and quiet", n, err)
	}
	if err := ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(1000, ""), time.Now().Add(wait)); err != nil {
		t.Fatal(err)
	}
	_ = nc.SetReadDeadline(time.Now().Add(wait))
	if n, err := nc.Read(b[:]); !errors.Is(err, io.EOF) {
		t.Fatalf("after the client answered: read %d bytes, %v; want the connection closed", n, err)
	}
}
