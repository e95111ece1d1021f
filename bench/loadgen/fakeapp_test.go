package loadgen

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/entreactive/reactive/internal/sio"
	"github.com/gorilla/websocket"
)

// fakeApp is a tiny in-memory stand-in for the example app's API
// (example/README.md), with switches that make it misbehave the ways the scenarios must
// detect.
type fakeApp struct {
	leak    bool // also send every message to user 1
	dup     bool // send every message twice
	phantom bool // emit a failed batch's valid rows before answering 422
	// cluster, when set, holds every node of a fake cluster (this one
	// included): a notification reaches the sockets of all of them, as
	// through a broker. offset appends an offset argument to each event,
	// as a server with connection state recovery does.
	cluster   *[]*fakeApp
	offset    bool
	remoteDup bool // deliver notifications posted elsewhere twice

	mu       sync.Mutex
	sockets  map[int][]*fakeSock // by user id
	convs    map[int][]int       // members
	rows     map[int][]map[string]any
	nextConv int
	nextRow  int
	wg       sync.WaitGroup
}

type fakeSock struct {
	ws  *websocket.Conn
	wmu sync.Mutex
}

func (s *fakeSock) send(frame []byte) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	_ = s.ws.WriteMessage(websocket.TextMessage, frame)
}

func startFakeApp(t *testing.T, app *fakeApp) *Env {
	t.Helper()
	app.sockets = map[int][]*fakeSock{}
	app.convs = map[int][]int{}
	app.rows = map[int][]map[string]any{}
	srv := httptest.NewServer(app)
	t.Cleanup(func() {
		srv.CloseClientConnections()
		srv.Close()
		app.wg.Wait()
	})
	return testEnv(t, srv.URL)
}

func testEnv(t *testing.T, url string) *Env {
	t.Helper()
	e, err := NewEnv(url, 0, "test")
	if err != nil {
		t.Fatal(err)
	}
	e.Settle = 10 * time.Millisecond
	e.BusyThreshold = 100 // never busy in tests
	t.Cleanup(e.Close)
	return e
}

func userOf(r *http.Request) int {
	id, _ := strconv.Atoi(strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer u"))
	return id
}

func (a *fakeApp) emit(user int, event map[string]any) {
	args := []any{event}
	if a.offset {
		args = append(args, "1733000000000-0")
	}
	frame, _ := sio.EncodeEvent("/", sio.NoID, "reactive", args...)
	a.mu.Lock()
	socks := append([]*fakeSock(nil), a.sockets[user]...)
	a.mu.Unlock()
	for _, s := range socks {
		s.send(frame)
	}
}

func (a *fakeApp) emitMessage(row map[string]any) {
	ev := map[string]any{"action": "create", "model": "Message", "id": row["id"], "data": row, "timestamp": time.Now().UnixMilli()}
	n := 1
	if a.dup {
		n = 2
	}
	for range n {
		a.emit(row["recipient_id"].(int), ev)
	}
	if a.leak && row["recipient_id"].(int) != 1 {
		a.emit(1, ev)
	}
}

func (a *fakeApp) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	reply := func(code int, v any) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		_ = json.NewEncoder(w).Encode(v)
	}
	type item struct {
		ConversationID int    `json:"conversation_id"`
		RecipientID    int    `json:"recipient_id"`
		Text           string `json:"text"`
	}
	store := func(from int, it item) map[string]any {
		a.mu.Lock()
		defer a.mu.Unlock()
		a.nextRow++
		row := map[string]any{"id": a.nextRow, "conversation_id": it.ConversationID, "sender_id": from, "recipient_id": it.RecipientID, "text": it.Text}
		a.rows[it.ConversationID] = append(a.rows[it.ConversationID], row)
		return row
	}
	switch r.Method + " " + r.URL.Path {
	case "GET /socket.io/":
		a.serveSocket(w, r)
	case "POST /api/login":
		var in struct {
			UserID int `json:"user_id"`
		}
		_ = json.NewDecoder(r.Body).Decode(&in)
		reply(200, map[string]string{"token": fmt.Sprintf("u%d", in.UserID)})
	case "POST /api/notifications":
		var in map[string]string
		_ = json.NewDecoder(r.Body).Decode(&in)
		ev := map[string]any{"action": "create", "model": "Notification", "id": 1, "data": in}
		nodes := []*fakeApp{a}
		if a.cluster != nil {
			nodes = *a.cluster
		}
		for _, n := range nodes {
			n.mu.Lock()
			var users []int
			for u := range n.sockets {
				users = append(users, u)
			}
			n.mu.Unlock()
			times := 1
			if n != a && n.remoteDup {
				times = 2
			}
			for _, u := range users {
				for range times {
					n.emit(u, ev)
				}
			}
		}
		reply(201, in)
	case "POST /api/conversations":
		var in struct {
			MemberIDs []int `json:"member_ids"`
		}
		_ = json.NewDecoder(r.Body).Decode(&in)
		a.mu.Lock()
		a.nextConv++
		id := a.nextConv
		a.convs[id] = append(in.MemberIDs, userOf(r))
		a.mu.Unlock()
		reply(201, map[string]int{"id": id})
	case "POST /api/messages":
		var in item
		_ = json.NewDecoder(r.Body).Decode(&in)
		row := store(userOf(r), in)
		a.emitMessage(row)
		reply(201, row)
	case "POST /api/messages/batch":
		var in []item
		_ = json.NewDecoder(r.Body).Decode(&in)
		for _, it := range in {
			if it.Text == "" {
				if a.phantom {
					for _, it := range in {
						if it.Text != "" {
							a.emitMessage(map[string]any{"id": 0, "recipient_id": it.RecipientID, "text": it.Text})
						}
					}
				}
				reply(422, map[string]string{"error": "empty text"})
				return
			}
		}
		var rows []map[string]any
		for _, it := range in {
			rows = append(rows, store(userOf(r), it))
		}
		for _, row := range rows {
			a.emitMessage(row)
		}
		reply(201, rows)
	case "GET /api/messages":
		c, _ := strconv.Atoi(r.URL.Query().Get("conversation_id"))
		a.mu.Lock()
		rows := append([]map[string]any{}, a.rows[c]...)
		a.mu.Unlock()
		reply(200, rows)
	default:
		http.NotFound(w, r)
	}
}

func (a *fakeApp) serveSocket(w http.ResponseWriter, r *http.Request) {
	up := websocket.Upgrader{}
	ws, err := up.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	a.wg.Add(1)
	defer a.wg.Done()
	defer ws.Close()
	s := &fakeSock{ws: ws}
	s.send([]byte(`0{"sid":"x","pingInterval":25000,"pingTimeout":20000}`))
	for {
		_, frame, err := ws.ReadMessage()
		if err != nil {
			return
		}
		_, payload, err := sio.ParseEngine(frame)
		if err != nil || len(payload) == 0 {
			return
		}
		p, err := sio.ParseSocket(payload)
		if err != nil {
			return
		}
		switch p.Type {
		case sio.Connect:
			s.send([]byte(`40{"sid":"s"}`))
			s.send([]byte(`42["connected",{"socketId":"s"}]`))
		case sio.Event:
			args, _ := sio.Args(p.Data)
			var token string
			if len(args) == 2 && json.Unmarshal(args[1], &token) == nil {
				id, _ := strconv.Atoi(strings.TrimPrefix(token, "u"))
				a.mu.Lock()
				a.sockets[id] = append(a.sockets[id], s)
				a.mu.Unlock()
				s.send(sio.AppendPacket(nil, sio.Ack, "/", p.ID, []byte(`[{"success":true}]`)))
			}
		}
	}
}
