//go:build !unix

package server

import (
	"net"
	"syscall"
)

// rawConn returns nil: writes without blocking are implemented on unix
// only; elsewhere every frame goes through the writer goroutine.
func rawConn(net.Conn) syscall.RawConn { return nil }

// tryWrite is never called where rawConn returns nil.
func (w *connWriter) tryWrite([]byte) (int, error) { return 0, nil }

func (w *connWriter) rawWrite(uintptr) bool { return true }
