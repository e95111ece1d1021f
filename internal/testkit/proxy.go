package testkit

import (
	"io"
	"net"
	"sync"
	"testing"
)

// Proxy forwards TCP connections to an upstream address (Redis, in the
// tests that cut it) until Cut; Restore listens on the same address again.
type Proxy struct {
	t        testing.TB
	upstream string
	mu       sync.Mutex
	addr     string
	ln       net.Listener
	conns    map[net.Conn]struct{}
	wg       sync.WaitGroup
}

// StartProxy starts a Proxy to upstream on a free local port; it is cut
// when the test ends.
func StartProxy(t testing.TB, upstream string) *Proxy {
	t.Helper()
	p := &Proxy{t: t, upstream: upstream, addr: "127.0.0.1:0", conns: map[net.Conn]struct{}{}}
	p.Restore()
	t.Cleanup(p.Cut)
	return p
}

// Addr is the address clients dial: the same after Cut and Restore.
func (p *Proxy) Addr() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.addr
}

// Restore listens again and forwards every new connection to the upstream.
func (p *Proxy) Restore() {
	p.t.Helper()
	p.mu.Lock()
	addr := p.addr
	p.mu.Unlock()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		p.t.Fatalf("proxy: %v", err)
	}
	p.mu.Lock()
	p.ln, p.addr = ln, ln.Addr().String()
	p.mu.Unlock()
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", p.upstream)
			if err != nil {
				_ = c.Close()
				continue
			}
			p.mu.Lock()
			if p.ln != ln { // cut meanwhile
				p.mu.Unlock()
				_ = c.Close()
				_ = up.Close()
				continue
			}
			p.conns[c], p.conns[up] = struct{}{}, struct{}{}
			p.mu.Unlock()
			pipe := func(dst, src net.Conn) {
				defer p.wg.Done()
				_, _ = io.Copy(dst, src)
				_ = dst.Close()
				_ = src.Close()
				p.mu.Lock()
				delete(p.conns, dst)
				delete(p.conns, src)
				p.mu.Unlock()
			}
			p.wg.Add(2)
			go pipe(up, c)
			go pipe(c, up)
		}
	}()
}

// Cut closes the listener and every connection: the upstream is gone, and
// new connections are refused until Restore. Cutting twice is harmless.
func (p *Proxy) Cut() {
	p.mu.Lock()
	if p.ln != nil {
		_ = p.ln.Close()
		p.ln = nil
	}
	for c := range p.conns {
		_ = c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}
