//go:build unix

package server

import (
	"errors"
	"net"
	"os"
	"syscall"
	"time"
)

// tryWrite writes as much of b as the kernel takes at once, without
// waiting: it returns what was written, and an error only when the
// connection failed (a full socket buffer is not an error).
func (w *connWriter) tryWrite(b []byte) (int, error) {
	w.rawBuf, w.rawN, w.rawErr = b, 0, nil
	err := w.raw.Write(w.rawFn)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		// The deadline of an earlier queued write, long past: it does not
		// apply to this write, which cannot block.
		_ = w.conn.SetWriteDeadline(time.Time{})
		err = w.raw.Write(w.rawFn)
	}
	n, werr := w.rawN, w.rawErr
	w.rawBuf, w.rawErr = nil, nil
	if err != nil {
		return 0, err
	}
	return n, werr
}

// rawWrite is the body of tryWrite, run by syscall.RawConn.Write with the
// socket's descriptor; returning true tells it not to wait.
func (w *connWriter) rawWrite(fd uintptr) bool {
	for w.rawN < len(w.rawBuf) {
		n, err := syscall.Write(int(fd), w.rawBuf[w.rawN:])
		if n > 0 {
			w.rawN += n
		}
		if err == nil || errors.Is(err, syscall.EINTR) {
			continue
		}
		if !errors.Is(err, syscall.EAGAIN) {
			w.rawErr = err
		}
		return true
	}
	return true
}

// rawConn returns conn's socket, or nil when conn is not one.
func rawConn(conn net.Conn) syscall.RawConn {
	sc, ok := conn.(syscall.Conn)
	if !ok {
		return nil
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	return raw
}

// readNow reads what the socket fd holds into p without waiting (the
// socket is non-blocking, as Go's are): wouldBlock when it holds nothing
// yet, n 0 with no error at the end of the stream. For upgradedConn.
func readNow(fd uintptr, p []byte) (n int, wouldBlock bool, err error) {
	for {
		n, err = syscall.Read(int(fd), p)
		if errors.Is(err, syscall.EINTR) {
			continue
		}
		if errors.Is(err, syscall.EAGAIN) {
			return 0, true, nil
		}
		if err != nil {
			return 0, false, os.NewSyscallError("read", err)
		}
		return n, false, nil
	}
}

// readable reports whether the socket fd holds bytes not read yet, the end
// of the stream or an error: anything a read would return at once. It
// peeks, so nothing is consumed. For upgradedConn.
func readable(fd uintptr) bool {
	var b [1]byte
	for {
		_, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK)
		if errors.Is(err, syscall.EINTR) {
			continue
		}
		return !errors.Is(err, syscall.EAGAIN)
	}
}
