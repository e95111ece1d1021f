package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"testing"

	"github.com/entreactive/reactive/entreactive"
	"github.com/entreactive/reactive/example/internal/app"
	"github.com/entreactive/reactive/internal/sio"
	"github.com/entreactive/reactive/internal/testkit"
)

// A socket receives the broadcasts of every node in the order of their
// offsets, as connection state recovery assumes: the client sends back the
// last offset it received, and gets what comes after it. (A node used to
// deliver its own broadcasts once its XADD answered, while its reader
// delivered the other nodes' entries as it read them: a later entry could
// reach a socket first. Its own now come back through the stream too,
// server.Broadcast.Echo.)
func TestClusterOffsetOrder(t *testing.T) {
	needRedis(t, sharedRedis)
	c := newCluster(t, 2, sharedRedis, redisNames(t, sharedRedis), nil)
	a, b := c.nodes[0], c.nodes[1]
	const each = 2000
	var mu sync.Mutex
	var offsets []string
	conn, err := sio.Dial(testkit.Context(t), sio.Config{
		URL:  b.url,
		Auth: map[string]any{"token": testkit.Token(t, 7)},
		OnEvent: func(name string, data []byte) {
			var args []any
			if name != "note" || json.Unmarshal(data, &args) != nil || len(args) != 3 {
				return
			}
			off, _ := args[2].(string)
			mu.Lock()
			offsets = append(offsets, off)
			mu.Unlock()
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx := testkit.Context(t)
	testkit.Eventually(t, "user 7 online on A", func() bool { return testkit.Online(t, a.app.Server(), 7) })

	var wg sync.WaitGroup
	for _, n := range []*cnode{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				if err := n.app.Server().EmitTo(ctx, entreactive.ToUserIDs(7), "note", i); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	testkit.Eventually(t, "every note", func() bool { mu.Lock(); defer mu.Unlock(); return len(offsets) >= 2*each })
	mu.Lock()
	defer mu.Unlock()
	var prev offset
	bad := 0
	var first string
	for _, s := range offsets {
		o, _ := parseOffset(s)
		if !o.after(prev) {
			if bad++; first == "" {
				first = fmt.Sprintf("%s after %s", o, prev)
			}
		}
		prev = o
	}
	if bad > 0 {
		t.Fatalf("%d of %d notes arrived after a note with a later offset (first: %s)", bad, len(offsets), first)
	}
}

// Several nodes of the app share one SQLite file (each opens it in WAL mode
// with a 5 s busy timeout). POST /api/messages/batch is one transaction:
// it reads (the conversation's members), then writes. Begun deferred, such
// a transaction starts as a reader, and when another connection wrote in
// between, the upgrade fails at once with SQLITE_BUSY, whatever the busy
// timeout: the app answered 500 "database is locked". It now opens the
// database with _txlock=immediate (db.go): those transactions wait their
// turn, and every batch succeeds.
func TestClusterBatchOnSharedSQLite(t *testing.T) {
	db := fastTempDir(t) + "/shared.db"
	var nodes []*env
	for range 3 {
		nodes = append(nodes, start(t, app.Config{DB: db}))
	}
	const users = 10
	tokens := make([]string, users+1)
	var members []int64
	for id := int64(1); id <= users; id++ {
		tokens[id] = nodes[0].login(id)
		members = append(members, id)
	}
	owner := &user{id: 1, token: tokens[1]}
	conv := nodes[0].conversation(owner, members[1:]...)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var failures []error
	for w := range 9 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n := nodes[w%3]
			from := int64(w%users) + 1
			for i := range 20 {
				items := []map[string]any{
					{"conversation_id": conv, "recipient_id": from%users + 1, "text": fmt.Sprintf("w%d i%d a", w, i)},
					{"conversation_id": conv, "recipient_id": (from+1)%users + 1, "text": fmt.Sprintf("w%d i%d b", w, i)},
				}
				status, body, err := postJSON(n.url+"/api/messages/batch", tokens[from], items)
				if err == nil && status != http.StatusCreated {
					err = fmt.Errorf("node %d: status %d: %s", w%3, status, body)
				}
				if err != nil {
					mu.Lock()
					failures = append(failures, err)
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	if len(failures) > 0 {
		t.Fatalf("%d of 180 batches failed, first: %v", len(failures), errors.Join(failures[:1]...))
	}
}

// postJSON posts body as JSON with a bearer token; for goroutines, which
// must not call t.Fatal.
func postJSON(url, token string, body any) (int, string, error) {
	raw, err := json.Marshal(body)
	if err != nil {
		return 0, "", err
	}
	ctx, cancel := context.WithTimeout(context.Background(), testkit.Wait)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "POST", url, bytes.NewReader(raw))
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer res.Body.Close()
	var b [512]byte
	n, _ := res.Body.Read(b[:])
	return res.StatusCode, string(b[:n]), nil
}
