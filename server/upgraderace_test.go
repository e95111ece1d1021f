package server_test

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/entreactive/reactive/server"
)

// upgradeRaceTries is how many sessions each upgrade race test tries.
const upgradeRaceTries = 1000

// raceClient is what the upgrade race tests need of a client: an HTTP
// client that keeps its connection, so that a request goes out at once.
type raceClient struct {
	base string
	http *http.Client
}

func newRaceClient(t *testing.T, base string) *raceClient {
	t.Helper()
	tr := &http.Transport{MaxIdleConnsPerHost: 4}
	t.Cleanup(tr.CloseIdleConnections)
	return &raceClient{base: base, http: &http.Client{Transport: tr, Timeout: wait}}
}

// do sends a request and returns the status and body.
func (c *raceClient) do(method, url, body string) (int, string, error) {
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		return 0, "", err
	}
	if method == http.MethodPost {
		req.Header.Set("Content-Type", "text/plain;charset=UTF-8")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// session opens a polling session and returns its sid.
func (c *raceClient) session() (string, error) {
	status, body, err := c.do(http.MethodGet, c.base+"/socket.io/?EIO=4&transport=polling", "")
	if err != nil {
		return "", err
	}
	_, rest, ok := strings.Cut(body, `"sid":"`)
	if status != http.StatusOK || !ok {
		return "", fmt.Errorf("handshake: %d %q", status, body)
	}
	sid, _, _ := strings.Cut(rest, `"`)
	return sid, nil
}

func (c *raceClient) pollURL(sid string) string {
	return c.base + "/socket.io/?EIO=4&transport=polling&sid=" + sid
}

// dialUpgrade opens a websocket for session sid; the 101 has been read
// when it returns.
func (c *raceClient) dialUpgrade(sid string) (*websocket.Conn, error) {
	u := "ws" + strings.TrimPrefix(c.base, "http") + "/socket.io/?EIO=4&transport=websocket&sid=" + sid
	ws, resp, err := websocket.DefaultDialer.Dial(u, nil)
	if err != nil {
		return nil, err
	}
	resp.Body.Close()
	return ws, nil
}

// probeAndUpgrade sends the probe and the upgrade packet without waiting
// for the probe's answer, as the protocol suite does.
func probeAndUpgrade(ws *websocket.Conn) error {
	if err := ws.WriteMessage(websocket.TextMessage, []byte("2probe")); err != nil {
		return err
	}
	return ws.WriteMessage(websocket.TextMessage, []byte("5"))
}

// carriesSession checks that ws is the session's transport: it answers
// the probe, then a Socket.IO CONNECT.
func carriesSession(ws *websocket.Conn) error {
	_ = ws.SetReadDeadline(time.Now().Add(wait))
	if _, b, err := ws.ReadMessage(); err != nil || string(b) != "3probe" {
		return fmt.Errorf("first websocket: probe answer %q, %v", b, err)
	}
	if err := ws.WriteMessage(websocket.TextMessage, []byte("40")); err != nil {
		return fmt.Errorf("first websocket: %w", err)
	}
	for {
		_, b, err := ws.ReadMessage()
		if err != nil {
			return fmt.Errorf("first websocket: no CONNECT reply: %w", err)
		}
		if strings.HasPrefix(string(b), "40{") {
			return nil
		}
	}
}

// refusedWebsocket checks that the server closed ws without a message.
func refusedWebsocket(ws *websocket.Conn) error {
	_ = ws.SetReadDeadline(time.Now().Add(2 * time.Second))
	_, b, err := ws.ReadMessage()
	if err == nil {
		return fmt.Errorf("second websocket: got %q, want it closed", b)
	}
	var ne interface{ Timeout() bool }
	if errors.As(err, &ne) && ne.Timeout() {
		return errors.New("second websocket: still open")
	}
	return nil
}

// TestSecondUpgradeNeverDisplacesTheFirst replays the protocol suite's
// "ignores WebSocket connection with same sid after upgrade": a websocket
// upgrade, probe and upgrade packet sent at once, then a second websocket
// for the same session. The first must carry the session on and the second
// be refused, every time.
func TestSecondUpgradeNeverDisplacesTheFirst(t *testing.T) {
	_, url := startServer(t, server.Config{})
	c := newRaceClient(t, url)
	failed := 0
	for i := range upgradeRaceTries {
		err := func() error {
			sid, err := c.session()
			if err != nil {
				return err
			}
			first, err := c.dialUpgrade(sid)
			if err != nil {
				return fmt.Errorf("first websocket: %w", err)
			}
			defer first.Close()
			if err := probeAndUpgrade(first); err != nil {
				return err
			}
			second, dialErr := c.dialUpgrade(sid)
			if dialErr == nil {
				defer second.Close()
			}
			if err := carriesSession(first); err != nil {
				return err
			}
			if dialErr != nil {
				return nil // refused before switching protocols: refused too
			}
			return refusedWebsocket(second)
		}()
		if err != nil {
			failed++
			if failed <= 5 {
				t.Errorf("try %d: %v", i, err)
			}
		}
	}
	if failed > 0 {
		t.Errorf("%d of %d tries failed", failed, upgradeRaceTries)
	}
}

// TestPollingAfterUpgradeIsRefused replays the protocol suite's "ignores
// HTTP requests with same sid after upgrade": probe and upgrade packet
// sent at once over the new websocket, then at once a GET (or a POST) of
// the polling transport. The server has read the websocket's packets
// before the request, so the request comes after the upgrade and is
// refused (400); the websocket carries the session on.
func TestPollingAfterUpgradeIsRefused(t *testing.T) {
	_, url := startServer(t, server.Config{})
	c := newRaceClient(t, url)
	failed := 0
	for i := range upgradeRaceTries {
		err := func() error {
			sid, err := c.session()
			if err != nil {
				return err
			}
			ws, err := c.dialUpgrade(sid)
			if err != nil {
				return fmt.Errorf("websocket: %w", err)
			}
			defer ws.Close()
			if err := probeAndUpgrade(ws); err != nil {
				return err
			}
			method, body := http.MethodGet, ""
			if i%2 == 1 {
				method, body = http.MethodPost, "6"
			}
			status, answer, err := c.do(method, c.pollURL(sid), body)
			if err != nil {
				return fmt.Errorf("%s: %w", method, err)
			}
			if status != http.StatusBadRequest {
				return fmt.Errorf("%s after the upgrade: %d %q, want 400", method, status, answer)
			}
			return carriesSession(ws)
		}()
		if err != nil {
			failed++
			if failed <= 5 {
				t.Errorf("try %d: %v", i, err)
			}
		}
	}
	if failed > 0 {
		t.Errorf("%d of %d tries failed", failed, upgradeRaceTries)
	}
}
