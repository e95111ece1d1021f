package loadgen

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync/atomic"
	"time"
)

// Common identifies a run in its Result.
type Common struct {
	Case   string
	Round  int
	Pinned string // e.g. "server cpu 0, loadgen cpu 1"
	// Drain is how long to wait for deliveries after the last post.
	// Default 20 s.
	Drain time.Duration
}

func (c Common) drain() time.Duration {
	if c.Drain <= 0 {
		return 20 * time.Second
	}
	return c.Drain
}

func (c Common) result(e *Env, scenario string) *Result {
	return &Result{Scenario: scenario, Case: c.Case, Target: e.Target, Round: c.Round, Pinned: c.Pinned, Start: time.Now().UTC()}
}

// FanoutConfig: Clients authenticated sockets; Notifications posted to
// /api/notifications, each of which must reach every socket (room "users").
type FanoutConfig struct {
	Common
	Clients       int
	Notifications int
	// Rate is notifications per second; 0 posts at saturation with
	// Workers concurrent posters (default 4).
	Rate     float64
	Workers  int
	InFlight int // rate mode: most outstanding POSTs (default 64)
	// Seed picks the node each notification is posted to when the Env
	// has several Nodes (uniformly at random).
	Seed uint64
}

// Fanout runs the fan-out scenario.
func Fanout(ctx context.Context, e *Env, cfg FanoutConfig) (*Result, error) {
	r := cfg.result(e, "fanout")
	r.Clients, r.Messages, r.Rate = cfg.Clients, cfg.Notifications, cfg.Rate
	t := newTracker(e, cfg.Clients, cfg.Notifications, nil)
	if n := e.nodeCount(); n > 1 {
		if n > 127 {
			return nil, fmt.Errorf("loadgen: %d nodes, at most 127", n)
		}
		rng := rand.New(rand.NewPCG(cfg.Seed, 0xc105))
		t.postNode = make([]int8, cfg.Notifications)
		for i := range t.postNode {
			t.postNode[i] = int8(rng.IntN(n))
		}
		t.sockNode = make([]int8, cfg.Clients)
		for i := range t.sockNode {
			t.sockNode[i] = int8(e.sockNode(i))
		}
	}
	s, err := open(ctx, e, r, t, cfg.Clients)
	if err != nil {
		return nil, err
	}
	defer s.close()

	var ok atomic.Int64
	s.begin()
	pacer(ctx, cfg.Notifications, cfg.Rate, orDefault(cfg.InFlight, 64), orDefault(cfg.Workers, 4), func(ctx context.Context, seq int) {
		base := e.Base
		if t.postNode != nil {
			base = e.nodeURL(int(t.postNode[seq]))
		}
		t.markPosted(seq)
		code, err := e.doJSONAt(ctx, base, http.MethodPost, "/api/notifications", "", map[string]string{"message": "notification " + e.tag(seq)}, nil)
		if err != nil || code != http.StatusCreated {
			t.failed[seq].Store(true)
			t.noteError(err, code, "POST /api/notifications")
			return
		}
		ok.Add(1)
	})
	r.Expected = ok.Load() * int64(cfg.Clients)
	r.PostErrors = int64(cfg.Notifications) - ok.Load()
	t.waitFor(ctx, r.Expected, time.Now().Add(cfg.drain()))
	s.end()
	return r, nil
}

// TargetedConfig: Users sockets, Messages sent between random pairs of
// users at Rate per second; each must reach its recipient only.
type TargetedConfig struct {
	Common
	Users    int
	Messages int
	Rate     float64 // default 100
	InFlight int     // default 16
	Seed     uint64
}

// Targeted runs the targeted-delivery scenario: it reports leaks (a message
// seen by another user), losses and duplicates.
func Targeted(ctx context.Context, e *Env, cfg TargetedConfig) (*Result, error) {
	if cfg.Users < 2 {
		return nil, fmt.Errorf("loadgen: targeted needs at least 2 users")
	}
	r := cfg.result(e, "targeted")
	r.Clients, r.Messages, r.Rate = cfg.Users, cfg.Messages, orDefaultF(cfg.Rate, 100)
	rng := rand.New(rand.NewPCG(cfg.Seed, 0x5eed))
	type msg struct{ from, to int } // user ids, 1-based
	msgs := make([]msg, cfg.Messages)
	for i := range msgs {
		from := 1 + rng.IntN(cfg.Users)
		to := 1 + rng.IntN(cfg.Users-1)
		if to >= from {
			to++
		}
		msgs[i] = msg{from, to}
	}
	t := newTracker(e, cfg.Users, cfg.Messages, func(sock, seq int) verdict {
		if msgs[seq].to != sock+1 {
			return leak
		}
		return wanted
	})
	s, err := open(ctx, e, r, t, cfg.Users)
	if err != nil {
		return nil, err
	}
	defer s.close()
	tokens := s.tokens
	convs, err := e.conversations(ctx, tokens, func(yield func(a, b int) bool) {
		for _, m := range msgs {
			if !yield(m.from, m.to) {
				return
			}
		}
	})
	if err != nil {
		return nil, err
	}

	var ok atomic.Int64
	s.begin()
	pacer(ctx, cfg.Messages, r.Rate, orDefault(cfg.InFlight, 16), 1, func(ctx context.Context, seq int) {
		m := msgs[seq]
		body := map[string]any{"conversation_id": convs[pairKey(m.from, m.to)], "recipient_id": m.to, "text": "hi " + e.tag(seq)}
		t.markPosted(seq)
		code, err := e.postJSON(ctx, "/api/messages", tokens[m.from-1], body, nil)
		if err != nil || code != http.StatusCreated {
			t.failed[seq].Store(true)
			t.noteError(err, code, "POST /api/messages")
			return
		}
		ok.Add(1)
	})
	r.Expected = ok.Load()
	r.PostErrors = int64(cfg.Messages) - ok.Load()
	t.waitFor(ctx, r.Expected, time.Now().Add(cfg.drain()))
	// Leaks and duplicates may trail the last wanted delivery.
	sleepCtx(ctx, 500*time.Millisecond)
	s.end()
	return r, nil
}

// RollbackConfig: Batches posted to /api/messages/batch one after another,
// BatchSize items each, between Pairs pairs of users. Every ValidEvery-th
// batch is valid; the others end with an empty text, so the whole batch
// must roll back and send nothing.
type RollbackConfig struct {
	Common
	Pairs      int // default 10
	Batches    int // default 100
	BatchSize  int // default 5
	ValidEvery int // default 5
}

// Rollback runs the rollback scenario and reports phantom events: events
// for rows of a batch that failed.
func Rollback(ctx context.Context, e *Env, cfg RollbackConfig) (*Result, error) {
	pairs, k, every := orDefault(cfg.Pairs, 10), orDefault(cfg.BatchSize, 5), orDefault(cfg.ValidEvery, 5)
	batches := orDefault(cfg.Batches, 100)
	r := cfg.result(e, "rollback")
	r.Clients, r.Messages = 2*pairs, batches
	valid := func(b int) bool { return b%every == every-1 }
	// Pair p: user 2p+1 sends to user 2p+2; batch b uses pair b%pairs.
	t := newTracker(e, 2*pairs, batches*k, func(sock, seq int) verdict {
		b := seq / k
		if !valid(b) {
			return phantom
		}
		if sock+1 != 2*(b%pairs)+2 {
			return leak
		}
		return wanted
	})
	s, err := open(ctx, e, r, t, 2*pairs)
	if err != nil {
		return nil, err
	}
	defer s.close()
	tokens := s.tokens
	convs, err := e.conversations(ctx, tokens, func(yield func(a, b int) bool) {
		for p := range pairs {
			if !yield(2*p+1, 2*p+2) {
				return
			}
		}
	})
	if err != nil {
		return nil, err
	}

	s.begin()
	var ok int64
	for b := 0; b < batches && ctx.Err() == nil; b++ {
		p := b % pairs
		from, to := 2*p+1, 2*p+2
		items := make([]map[string]any, k)
		for j := range items {
			items[j] = map[string]any{"conversation_id": convs[pairKey(from, to)], "recipient_id": to, "text": "batch " + e.tag(b*k+j)}
		}
		want := http.StatusCreated
		if !valid(b) {
			items[k-1]["text"] = ""
			want = http.StatusUnprocessableEntity
		}
		for j := range items {
			t.markPosted(b*k + j)
		}
		code, err := e.postJSON(ctx, "/api/messages/batch", tokens[from-1], items, nil)
		if err != nil || code != want {
			t.noteError(err, code, fmt.Sprintf("POST /api/messages/batch (want %d)", want))
			r.PostErrors++
			continue
		}
		if valid(b) {
			ok += int64(k)
		}
	}
	r.Expected = ok
	t.waitFor(ctx, r.Expected, time.Now().Add(cfg.drain()))
	// Phantoms of the last failed batches may trail the last valid one.
	sleepCtx(ctx, time.Second)
	s.end()

	// Nothing of a failed batch may be stored either.
	marker := string(e.marker())
	for p := range pairs {
		var rows []struct {
			Text string `json:"text"`
		}
		path := fmt.Sprintf("/api/messages?conversation_id=%d", convs[pairKey(2*p+1, 2*p+2)])
		code, err := e.doJSON(ctx, http.MethodGet, path, tokens[2*p], nil, &rows)
		if err != nil || code != http.StatusOK {
			r.Errors = append(r.Errors, fmt.Sprintf("GET %s: status %d, %v", path, code, err))
			continue
		}
		for _, row := range rows {
			if seq := tagOf([]byte(row.Text), []byte(marker)); seq >= 0 && !valid(seq/k) {
				r.Stored++
			}
		}
	}
	return r, nil
}

// pairKey is the unordered pair a, b.
func pairKey(a, b int) [2]int {
	if a > b {
		a, b = b, a
	}
	return [2]int{a, b}
}

// conversations creates one two-member conversation per distinct pair.
func (e *Env) conversations(ctx context.Context, tokens []string, pairs func(yield func(a, b int) bool)) (map[[2]int]int, error) {
	var keys [][2]int
	seen := map[[2]int]bool{}
	for a, b := range pairs {
		if k := pairKey(a, b); !seen[k] {
			seen[k] = true
			keys = append(keys, k)
		}
	}
	ids := make([]int, len(keys))
	err := parallel(ctx, len(keys), 8, func(ctx context.Context, i int) error {
		var out struct {
			ID int `json:"id"`
		}
		code, err := e.postJSON(ctx, "/api/conversations", tokens[keys[i][0]-1], map[string][]int{"member_ids": {keys[i][1]}}, &out)
		if err != nil {
			return err
		}
		if code != http.StatusCreated || out.ID == 0 {
			return fmt.Errorf("loadgen: POST /api/conversations: status %d", code)
		}
		ids[i] = out.ID
		return nil
	})
	if err != nil {
		return nil, err
	}
	m := make(map[[2]int]int, len(keys))
	for i, k := range keys {
		m[k] = ids[i]
	}
	return m, nil
}

func containsPrefix(list []string, s string) bool {
	for _, v := range list {
		if strings.HasPrefix(v, s) {
			return true
		}
	}
	return false
}

func cmpOr(v, d string) string {
	if v == "" {
		return d
	}
	return v
}

func orDefault(v, d int) int {
	if v <= 0 {
		return d
	}
	return v
}

func orDefaultF(v, d float64) float64 {
	if v <= 0 {
		return d
	}
	return v
}

func sleepCtx(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}
