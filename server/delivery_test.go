package server_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/entreactive/reactive/entreactive"
	"github.com/entreactive/reactive/internal/sioclient"
	"github.com/entreactive/reactive/internal/testkit"
	"github.com/entreactive/reactive/server"
)

// receivedIDs returns the ids of the "reactive" events of model c got.
func receivedIDs(c *sioclient.Client, model string) []int {
	var ids []int
	for _, args := range c.Events("reactive") {
		m := args[0].(map[string]any)
		if m["model"] == model {
			ids = append(ids, int(m["id"].(float64)))
		}
	}
	return ids
}

func TestIsolation(t *testing.T) {
	const nUsers, nGuests, nEvents = 50, 5, 1000
	srv, url := startServer(t, server.Config{
		Authorize: func(ctx context.Context, r server.JoinRequest) (bool, error) { return true, nil },
	})
	users := make([]*sioclient.Client, nUsers)
	var wg sync.WaitGroup
	errs := make(chan error, nUsers+nGuests)
	for i := range users {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := sioclient.Dial(testkit.Context(t), url, sioclient.Options{Transport: sioclient.WebSocketOnly,
				Auth: map[string]any{"token": testkit.Token(t, fmt.Sprint(i))}}) // a string id: user 0 is not a valid numeric id
			if err == nil {
				err = c.WaitCount(testkit.Context(t), "connected", 1)
			}
			if err != nil {
				errs <- err
				return
			}
			users[i] = c
			// Users join the room of their group: group_0 … group_4.
			if ack, err := c.EmitAck(testkit.Context(t), "join", fmt.Sprintf("group_%d", i%5)); err != nil || !testkit.AckSuccess(ack) {
				errs <- fmt.Errorf("join: %v %v", ack, err)
			}
		}()
	}
	guests := make([]*sioclient.Client, nGuests)
	for i := range guests {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := sioclient.Dial(testkit.Context(t), url, sioclient.Options{Transport: sioclient.WebSocketOnly})
			if err == nil {
				err = c.WaitCount(testkit.Context(t), "connected", 1)
			}
			if err != nil {
				errs <- err
				return
			}
			guests[i] = c
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for _, c := range append(append([]*sioclient.Client(nil), users...), guests...) {
		t.Cleanup(c.Close)
	}
	if n := testkit.Connections(t, srv); n != nUsers+nGuests {
		t.Fatalf("%d connections: %v", n, srv.Stats().Rooms)
	}

	// want[i] is the ids user i must receive, in order; wantGuests the ids
	// every guest must receive.
	want := make([][]int, nUsers)
	var wantGuests []int
	rng := rand.New(rand.NewPCG(1, 2))
	for id := 1; id <= nEvents; id++ {
		var to entreactive.Target
		switch rng.IntN(10) {
		case 0:
			to = entreactive.ToAll()
			wantGuests = append(wantGuests, id)
			for u := range want {
				want[u] = append(want[u], id)
			}
		case 1:
			to = entreactive.ToUsers()
			for u := range want {
				want[u] = append(want[u], id)
			}
		case 2:
			to = entreactive.ToGuests()
			wantGuests = append(wantGuests, id)
		case 3, 4:
			// A group room plus users of that group: each gets one copy.
			g := rng.IntN(5)
			to = entreactive.Target{Rooms: []string{fmt.Sprintf("group_%d", g)}, Users: []any{g, g + 5, int64(g + 10)}}
			for u := g; u < nUsers; u += 5 {
				want[u] = append(want[u], id)
			}
		default:
			// A few users, some twice, some offline.
			set := map[int]bool{}
			var ids []any
			for range 1 + rng.IntN(4) {
				u := rng.IntN(nUsers + 10)
				ids = append(ids, u, fmt.Sprint(u))
				set[u] = true
			}
			to = entreactive.Target{Users: ids}
			for u := range set {
				if u < nUsers {
					want[u] = append(want[u], id)
				}
			}
		}
		ev := entreactive.Event{Action: entreactive.ActionCreate, Model: "Item", ID: id, Data: map[string]any{"id": id}, Timestamp: time.Now()}
		if err := srv.Emit(context.Background(), to, ev); err != nil {
			t.Fatal(err)
		}
	}
	all := append(append([]*sioclient.Client(nil), users...), guests...)
	marker(t, srv, all, 1)

	for u, c := range users {
		if got := receivedIDs(c, "Item"); fmt.Sprint(got) != fmt.Sprint(want[u]) {
			t.Fatalf("user %d got %d events %v\nwant %d %v", u, len(got), got, len(want[u]), want[u])
		}
	}
	for g, c := range guests {
		if got := receivedIDs(c, "Item"); fmt.Sprint(got) != fmt.Sprint(wantGuests) {
			t.Fatalf("guest %d got %v\nwant %v", g, got, wantGuests)
		}
	}
	st := srv.Stats()
	if st.Dropped != 0 || st.EventsQueued != nEvents+1 {
		t.Fatalf("stats %+v", st)
	}
}

func TestEmitFromManyGoroutinesKeepsEachOrder(t *testing.T) {
	srv, url := startServer(t, server.Config{})
	c := testkit.Dial(t, url, sioclient.Options{Transport: sioclient.WebSocketOnly})
	authAs(t, c, 1)
	const writers, each = 4, 100
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				ev := entreactive.Event{Action: entreactive.ActionCreate, Model: fmt.Sprintf("W%d", w), ID: i, Timestamp: time.Now()}
				if err := srv.Emit(context.Background(), entreactive.ToUserIDs(1), ev); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	if err := c.WaitCount(testkit.Context(t), "reactive", writers*each); err != nil {
		t.Fatal(err)
	}
	for w := range writers {
		got := receivedIDs(c, fmt.Sprintf("W%d", w))
		for i, id := range got {
			if id != i {
				t.Fatalf("writer %d: event %d has id %d: %v", w, i, id, got)
			}
		}
	}
}

func TestEmitErrors(t *testing.T) {
	srv, _ := startServer(t, server.Config{})
	ctx := context.Background()
	// An empty or skipped target sends nothing and is not an error.
	for _, to := range []entreactive.Target{{}, entreactive.Skip(), {Rooms: []string{"all"}, Skip: true}} {
		if err := srv.Emit(ctx, to, entreactive.Event{Model: "X"}); err != nil {
			t.Fatal(err)
		}
	}
	// Data that cannot be encoded is an error, counted.
	err := srv.Emit(ctx, entreactive.ToAll(), entreactive.Event{Model: "X", Data: func() {}})
	if err == nil || srv.Stats().EncodeErrors != 1 {
		t.Fatalf("err = %v, stats %+v", err, srv.Stats())
	}
	if srv.Stats().EventsQueued != 0 {
		t.Fatal("queued")
	}
	if err := srv.EmitTo(ctx, entreactive.ToUserIDs("bad_id"), "x"); !errors.Is(err, server.ErrInvalidID) {
		t.Fatalf("EmitTo(ToUserIDs(bad_id)) = %v", err)
	}
	srv.ReportFailure(ctx, entreactive.Failure{Model: "X", Action: entreactive.ActionCreate, ID: 1, Err: errors.New("boom")})
	if srv.Stats().Failures != 1 {
		t.Fatal("failure not counted")
	}
	if err := srv.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if err := srv.Emit(ctx, entreactive.ToAll(), entreactive.Event{Model: "X"}); !errors.Is(err, server.ErrClosed) {
		t.Fatalf("Emit after Close = %v", err)
	}
}
