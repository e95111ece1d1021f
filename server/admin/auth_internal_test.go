package admin

import (
	"strconv"
	"testing"
	"time"
)

// The limiter refuses an address past max attempts until the window
// opened by the first one ends; a success forgets the address; other
// addresses are not affected.
func TestLoginLimiterWindow(t *testing.T) {
	l := newLoginLimiter(3, time.Minute)
	t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	for i := range 3 {
		if !l.begin("10.0.0.1", t0.Add(time.Duration(i)*time.Second)) {
			t.Fatalf("attempt %d refused", i+1)
		}
	}
	if l.begin("10.0.0.1", t0.Add(59*time.Second)) {
		t.Fatal("4th attempt within the window allowed")
	}
	if !l.begin("10.0.0.2", t0.Add(59*time.Second)) {
		t.Fatal("another address refused")
	}
	if !l.begin("10.0.0.1", t0.Add(time.Minute)) {
		t.Fatal("refused once the window ended")
	}
	l.succeeded("10.0.0.1")
	if l.failures("10.0.0.1") != 0 {
		t.Fatal("a success did not forget the address")
	}
}

// However many addresses fail, the limiter keeps at most maxAddresses.
func TestLoginLimiterIsBounded(t *testing.T) {
	l := newLoginLimiter(1, time.Hour)
	now := time.Now()
	for i := range maxAddresses + 100 {
		l.begin("addr-"+strconv.Itoa(i), now.Add(time.Duration(i)))
	}
	if n := len(l.addrs); n > maxAddresses {
		t.Fatalf("%d addresses kept", n)
	}
	if l.begin("addr-"+strconv.Itoa(maxAddresses+99), now.Add(time.Hour/2)) {
		t.Fatal("the newest address forgotten")
	}
}

func TestLoginAddress(t *testing.T) {
	for in, want := range map[string]string{"127.0.0.1:5000": "127.0.0.1", "[::1]:80": "::1", "10.1.2.3": "10.1.2.3"} {
		if got := loginAddress(in); got != want {
			t.Errorf("loginAddress(%q) = %q, want %q", in, got, want)
		}
	}
}
