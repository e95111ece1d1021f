package server

import (
	"bufio"
	"errors"
	"net"
	"net/http"
	"sync"
)

// releasingWriter is the ResponseWriter handed to the library for a
// websocket upgrade. The library keeps the first request of every session
// for the session's life, ResponseWriter included, and net/http's
// ResponseWriter holds the connection's 4 KiB read and write buffers, which
// a hijacked connection no longer uses (gorilla/websocket has buffers of
// its own). Once hijacked, releasingWriter lets go of the ResponseWriter,
// so those buffers are freed: about 8 KiB per websocket connection.
type releasingWriter struct {
	mu     sync.Mutex
	w      http.ResponseWriter
	header http.Header
}

func newReleasingWriter(w http.ResponseWriter) *releasingWriter {
	return &releasingWriter{w: w}
}

func (r *releasingWriter) inner() http.ResponseWriter {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.w
}

// Header implements http.ResponseWriter.
func (r *releasingWriter) Header() http.Header {
	if w := r.inner(); w != nil {
		return w.Header()
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.header == nil {
		r.header = http.Header{}
	}
	return r.header
}

// Write implements http.ResponseWriter.
func (r *releasingWriter) Write(b []byte) (int, error) {
	if w := r.inner(); w != nil {
		return w.Write(b)
	}
	return 0, http.ErrHijacked
}

// WriteHeader implements http.ResponseWriter.
func (r *releasingWriter) WriteHeader(code int) {
	if w := r.inner(); w != nil {
		w.WriteHeader(code)
	}
}

// Flush implements http.Flusher.
func (r *releasingWriter) Flush() {
	if f, ok := r.inner().(http.Flusher); ok {
		f.Flush()
	}
}

// Hijack implements http.Hijacker and releases the ResponseWriter.
func (r *releasingWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	h, ok := r.inner().(http.Hijacker)
	if !ok {
		return nil, nil, errors.New("server: the ResponseWriter cannot be hijacked")
	}
	conn, rw, err := h.Hijack()
	if err == nil {
		r.mu.Lock()
		r.w = nil
		r.mu.Unlock()
	}
	return conn, rw, err
}

// Unwrap lets http.ResponseController reach the ResponseWriter.
func (r *releasingWriter) Unwrap() http.ResponseWriter { return r.inner() }
