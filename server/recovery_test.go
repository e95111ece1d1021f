package server_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/entreactive/reactive/entreactive"
	"github.com/entreactive/reactive/internal/sio"
	"github.com/entreactive/reactive/internal/testkit"
	"github.com/entreactive/reactive/server"
)

// notes collects the "note" events of raw connections: the number each
// carries (its first argument) and the offset recovery appended (its last).
type notes struct {
	mu      sync.Mutex
	nums    []int
	offsets []string
	changed chan struct{}
}

func newNotes() *notes { return &notes{changed: make(chan struct{}, 1)} }

func (n *notes) handler(name string, data []byte) {
	if name != "note" {
		return
	}
	var args []any
	if json.Unmarshal(data, &args) != nil || len(args) < 3 {
		return
	}
	num, _ := args[1].(float64)
	off, _ := args[len(args)-1].(string)
	n.mu.Lock()
	n.nums = append(n.nums, int(num))
	n.offsets = append(n.offsets, off)
	n.mu.Unlock()
	select {
	case n.changed <- struct{}{}:
	default:
	}
}

// waitFor waits until count notes have arrived.
func (n *notes) waitFor(t *testing.T, count int) {
	t.Helper()
	ctx := testkit.Context(t)
	for {
		n.mu.Lock()
		got := len(n.nums)
		n.mu.Unlock()
		if got >= count {
			return
		}
		select {
		case <-n.changed:
		case <-ctx.Done():
			t.Fatalf("got %d notes, want %d: %v", got, count, n.snapshot())
		}
	}
}

func (n *notes) snapshot() []int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return slices.Clone(n.nums)
}

func (n *notes) lastOffset() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.offsets[len(n.offsets)-1]
}

func dialSIO(t *testing.T, url string, auth map[string]any, n *notes) *sio.Conn {
	t.Helper()
	c, err := sio.Dial(testkit.Context(t), sio.Config{URL: url, Auth: auth, OnEvent: n.handler})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// dialUser connects user id with a token, n collecting its notes, and
// waits until the server has the user online.
func dialUser(t *testing.T, srv *server.Server, url string, id int, n *notes) *sio.Conn {
	t.Helper()
	c := dialSIO(t, url, map[string]any{"token": testkit.Token(t, id)}, n)
	testkit.Eventually(t, "the socket registered", func() bool { return testkit.Online(t, srv, id) })
	return c
}

// dropAndWait drops c's connection without a goodbye and waits until the
// server has seen it go (its only connection).
func dropAndWait(t *testing.T, srv *server.Server, c *sio.Conn) {
	t.Helper()
	c.Drop()
	testkit.Eventually(t, "the socket gone", func() bool { return testkit.Connections(t, srv) == 0 })
}

func TestRecoveryGivesBackWhatWasMissed(t *testing.T) {
	srv, url := startServer(t, server.Config{Recovery: &server.Recovery{}})
	ctx := testkit.Context(t)
	emit := func(room string, n int) {
		t.Helper()
		if err := srv.EmitTo(ctx, entreactive.ToRooms(room), "note", n); err != nil {
			t.Fatal(err)
		}
	}

	got := newNotes()
	c1 := dialSIO(t, url, map[string]any{"token": testkit.Token(t, 7), "device_id": "phone"}, got)
	if c1.PID == "" {
		t.Fatal("no pid in the connect reply")
	}
	testkit.Eventually(t, "the socket registered", func() bool { return testkit.Online(t, srv, 7) })
	if err := srv.JoinUser(ctx, 7, "team"); err != nil {
		t.Fatal(err)
	}
	emit("team", 1)
	got.waitFor(t, 1)
	dropAndWait(t, srv, c1)

	emit("team", 2)
	emit("user_7", 3)
	emit("others", 99)
	emit("device_phone", 4)
	emit("team", 5)

	// Back with the pid and the last offset, without a token: the socket,
	// its rooms and its user come back, and what it missed arrives in
	// order, each once, before what is sent next.
	c2 := dialSIO(t, url, map[string]any{"pid": c1.PID, "offset": got.lastOffset()}, got)
	if c2.SID != c1.SID || c2.PID != c1.PID {
		t.Fatalf("restored as %s/%s, was %s/%s", c2.SID, c2.PID, c1.SID, c1.PID)
	}
	emit("team", 6)
	got.waitFor(t, 6)
	if nums := got.snapshot(); !slices.Equal(nums, []int{1, 2, 3, 4, 5, 6}) {
		t.Fatalf("notes %v, want 1..6", nums)
	}
	for i := 1; i < len(got.offsets); i++ {
		if got.offsets[i] == got.offsets[i-1] {
			t.Fatalf("offsets repeat: %v", got.offsets)
		}
	}
	if !testkit.Online(t, srv, 7) || testkit.RoomSize(t, srv, "team") != 1 || !testkit.DeviceOnline(t, srv, "phone") {
		t.Fatalf("rooms after restore: %v", srv.Stats().Rooms)
	}

	// A session restores once; an unknown pid or offset gets a fresh
	// socket.
	dropAndWait(t, srv, c2)
	fresh := newNotes()
	c3 := dialSIO(t, url, map[string]any{"pid": c1.PID, "offset": "1-0"}, fresh)
	if c3.SID == c1.SID {
		t.Fatalf("restored from an offset that is not in the history")
	}
	c4 := dialSIO(t, url, map[string]any{"pid": "nope", "offset": got.lastOffset()}, fresh)
	if c4.SID == c1.SID || c4.PID == "" {
		t.Fatalf("unknown pid: sid %s pid %q", c4.SID, c4.PID)
	}
	if testkit.Online(t, srv, 7) {
		t.Fatal("a fresh socket has the old user")
	}
}

// HistoryBytes bounds what the history keeps: a client that missed more
// than it holds gets a fresh socket instead of part of what it missed.
func TestRecoveryHistoryBytes(t *testing.T) {
	srv, url := startServer(t, server.Config{Recovery: &server.Recovery{HistoryBytes: 8 << 10}})
	ctx := testkit.Context(t)
	got := newNotes()
	c1 := dialUser(t, srv, url, 7, got)
	if err := srv.EmitTo(ctx, entreactive.ToUserIDs(7), "note", 1); err != nil {
		t.Fatal(err)
	}
	got.waitFor(t, 1)

	// Missed: 2 KiB in all, within the bound: restored.
	dropAndWait(t, srv, c1)
	for n := 2; n <= 3; n++ {
		if err := srv.EmitTo(ctx, entreactive.ToUserIDs(7), "note", n, strings.Repeat("x", 1<<10)); err != nil {
			t.Fatal(err)
		}
	}
	c2 := dialSIO(t, url, map[string]any{"pid": c1.PID, "offset": got.lastOffset()}, got)
	if c2.SID != c1.SID {
		t.Fatal("not restored, though what it missed is within HistoryBytes")
	}
	got.waitFor(t, 3)

	// Missed: 12 KiB, past the bound: a fresh socket, nothing replayed.
	dropAndWait(t, srv, c2)
	for n := 4; n <= 9; n++ {
		if err := srv.EmitTo(ctx, entreactive.ToUserIDs(7), "note", n, strings.Repeat("x", 2<<10)); err != nil {
			t.Fatal(err)
		}
	}
	fresh := newNotes()
	c3 := dialSIO(t, url, map[string]any{"pid": c1.PID, "offset": got.lastOffset()}, fresh)
	if c3.SID == c1.SID {
		t.Fatal("restored although HistoryBytes dropped part of what it missed")
	}
	if nums := got.snapshot(); !slices.Equal(nums, []int{1, 2, 3}) {
		t.Fatalf("notes %v", nums)
	}
}

// A client that drops and comes back while events keep coming gets every
// event once, in order, across its two connections.
func TestRecoveryUnderConcurrentEmits(t *testing.T) {
	srv, url := startServer(t, server.Config{Recovery: &server.Recovery{}, QueueSize: 1 << 16})
	const total = 5000
	got := newNotes()
	c1 := dialUser(t, srv, url, 3, got)

	ctx, cancel := context.WithCancel(testkit.Context(t))
	defer cancel()
	done := make(chan error, 1)
	go func() {
		for i := 1; i <= total; i++ {
			if err := srv.EmitTo(ctx, entreactive.ToUserIDs(3), "note", i); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	got.waitFor(t, 200)
	// A real client waits a second before it reconnects; the server has
	// seen the drop by then.
	dropAndWait(t, srv, c1)
	c2 := dialSIO(t, url, map[string]any{"pid": c1.PID, "offset": got.lastOffset()}, got)
	if c2.SID != c1.SID {
		t.Fatal("not restored")
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	got.waitFor(t, total)
	nums := got.snapshot()
	for i, n := range nums {
		if n != i+1 {
			t.Fatalf("note %d is %d (lost or repeated around there): %v", i, n, nums[max(0, i-3):min(len(nums), i+3)])
		}
	}
	if len(nums) != total {
		t.Fatalf("%d notes, want %d", len(nums), total)
	}
}

// holdingObserver holds the first delivery it observes until released.
type holdingObserver struct {
	held    chan struct{} // closed at the first delivery
	once    sync.Once
	release chan struct{}
}

func (o *holdingObserver) EventEmitted(string, entreactive.Action) {}

func (o *holdingObserver) EventDelivered(time.Duration) {
	o.once.Do(func() { close(o.held) })
	<-o.release
}

// Under recovery a full delivery queue loses nothing: the sockets an event
// could not be queued for are closed, and get it from the history when
// they come back.
func TestRecoveryClosesWhatAFullQueueCannotServe(t *testing.T) {
	o := &holdingObserver{held: make(chan struct{}), release: make(chan struct{})}
	srv, url := startServer(t, server.Config{Recovery: &server.Recovery{}, QueueSize: 1, Observer: o})
	release := sync.OnceFunc(func() { close(o.release) })
	t.Cleanup(release) // before the server's Close
	ctx := testkit.Context(t)

	got := newNotes()
	c1 := dialUser(t, srv, url, 5, got)
	if err := srv.EmitTo(ctx, entreactive.ToUserIDs(5), "note", 0); err != nil {
		t.Fatal(err)
	}
	got.waitFor(t, 1)

	// A polling guest whose first reactive delivery the observer holds:
	// its shard stops, the dispatcher waits for it, the queue fills.
	testkit.PollingGuest(t, url)
	testkit.Eventually(t, "the guest connected", func() bool { return testkit.RoomSize(t, srv, "guests") == 1 })
	ev := entreactive.Event{Action: entreactive.ActionCreate, Model: "Notification", ID: 1, Timestamp: time.Now()}
	if err := srv.Emit(ctx, entreactive.Target{Rooms: []string{"guests"}}, ev); err != nil {
		t.Fatal(err)
	}
	<-o.held
	const total = 600 // more than the queues hold
	for i := 1; i <= total; i++ {
		if err := srv.EmitTo(ctx, entreactive.ToUserIDs(5), "note", i); err != nil {
			t.Fatalf("note %d: %v", i, err)
		}
	}
	select {
	case <-c1.Done():
	case <-ctx.Done():
		t.Fatal("the socket the queue could not serve stayed open")
	}
	release()
	if s := srv.Stats(); s.RecoveryCloses != 1 || s.Dropped != 0 {
		t.Fatalf("recovery closes %d, dropped %d", s.RecoveryCloses, s.Dropped)
	}
	testkit.Eventually(t, "the drop seen", func() bool { return !testkit.Online(t, srv, 5) })

	c2 := dialSIO(t, url, map[string]any{"pid": c1.PID, "offset": got.lastOffset()}, got)
	if c2.SID != c1.SID {
		t.Fatal("not restored")
	}
	got.waitFor(t, total+1)
	for i, n := range got.snapshot() {
		if n != i {
			t.Fatalf("note %d is %d", i, n)
		}
	}
}

// The official client recovers: socket.recovered is true, the id is kept,
// and the notes sent while it was away arrive, in order, once.
func TestRecoveryNodeClient(t *testing.T) {
	node, script := nodeHarness(t)
	script = filepath.Join(filepath.Dir(script), "recover.mjs")
	srv, url := startServer(t, server.Config{Recovery: &server.Recovery{}})
	ctx, cancel := context.WithTimeout(testkit.Context(t), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, script, url, testkit.Token(t, 4))
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
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("client stderr: %s", stderr.String())
		}
	})
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Wait() })
	lines := bufio.NewScanner(stdout)
	next := func(want string) json.RawMessage {
		t.Helper()
		for lines.Scan() {
			var s nodeStep
			if err := json.Unmarshal(lines.Bytes(), &s); err != nil {
				t.Fatalf("%s: %v", lines.Text(), err)
			}
			if s.Step == "error" {
				t.Fatalf("client: %s", s.Data)
			}
			if s.Step == want {
				return s.Data
			}
		}
		t.Fatalf("client ended before %q: %v", want, lines.Err())
		return nil
	}
	type connected struct {
		ID        string
		Recovered bool
	}
	var first, second connected
	if err := json.Unmarshal(next("connect"), &first); err != nil || first.Recovered {
		t.Fatalf("first connect %+v, %v", first, err)
	}
	testkit.Eventually(t, "the socket registered", func() bool { return testkit.Online(t, srv, 4) })
	emit := func(n int) {
		t.Helper()
		if err := srv.EmitTo(ctx, entreactive.ToUserIDs(4), "note", n); err != nil {
			t.Fatal(err)
		}
	}
	emit(1)
	next("note")
	if _, err := io.WriteString(stdin, "drop\n"); err != nil {
		t.Fatal(err)
	}
	next("disconnect")
	testkit.Eventually(t, "the drop seen", func() bool { return !testkit.Online(t, srv, 4) })
	emit(2)
	emit(3)
	if err := json.Unmarshal(next("connect"), &second); err != nil {
		t.Fatal(err)
	}
	if !second.Recovered || second.ID != first.ID {
		t.Fatalf("reconnected as %+v, first %+v", second, first)
	}
	emit(4)
	for n := next("note"); string(n) != "4"; n = next("note") {
	}
	if _, err := io.WriteString(stdin, "done\n"); err != nil {
		t.Fatal(err)
	}
	var nums []int
	if err := json.Unmarshal(next("notes"), &nums); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(nums, []int{1, 2, 3, 4}) {
		t.Fatalf("notes %v, want [1 2 3 4]", nums)
	}
}

// With EmitBacklog, an emit that finds the fan-out behind waits for it (at
// most MaxEmitWait, or its ctx), instead of queueing more.
func TestEmitBacklogWaitsForTheFanOut(t *testing.T) {
	o := &holdingObserver{held: make(chan struct{}), release: make(chan struct{})}
	srv, url := startServer(t, server.Config{EmitBacklog: 1, Observer: o})
	release := sync.OnceFunc(func() { close(o.release) })
	t.Cleanup(release)
	testkit.PollingGuest(t, url)
	testkit.Eventually(t, "the guest connected", func() bool { return testkit.RoomSize(t, srv, "guests") == 1 })
	ev := entreactive.Event{Action: entreactive.ActionCreate, Model: "Notification", ID: 1, Timestamp: time.Now()}
	if err := srv.Emit(testkit.Context(t), entreactive.ToGuests(), ev); err != nil {
		t.Fatal(err)
	}
	<-o.held // the shard is held: the fan-out is one broadcast behind
	if err := srv.Emit(testkit.Context(t), entreactive.ToGuests(), ev); err != nil {
		t.Fatal(err)
	}
	// Two behind now: the next emit waits until its ctx ends...
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	if err := srv.Emit(ctx, entreactive.ToGuests(), ev); err != nil {
		t.Fatal(err)
	}
	if waited := time.Since(start); waited < 90*time.Millisecond {
		t.Fatalf("an emit with the fan-out behind returned after %v", waited)
	}
	// ...or until the fan-out catches up.
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Emit(testkit.Context(t), entreactive.ToGuests(), ev)
	}()
	select {
	case <-done:
		t.Fatal("the emit did not wait for the fan-out")
	case <-time.After(50 * time.Millisecond):
	}
	release()
	select {
	case <-done:
	case <-time.After(server.MaxEmitWait / 2):
		t.Fatal("the emit still waits after the fan-out caught up")
	}
}
