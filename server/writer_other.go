//go:build !unix

package server

import (
	"net"
	"syscall"
)

// rawConn returns nil: writes without blocking and tracked reads (see
// upgradedConn) are implemented on unix only; elsewhere every frame goes
// through the writer goroutine and polling requests do not wait for the
// websocket's reader.
func rawConn(net.Conn) syscall.RawConn { return nil }

// tryWrite is never called where rawConn returns nil.
func (w *connWriter) tryWrite([]byte) (int, error) { return 0, nil }

func (w *connWriter) rawWrite(uintptr) bool { return true }

// readNow and readable are never called where rawConn returns nil.
func readNow(uintptr, []byte) (int, bool, error) { return 0, false, nil }

func readable(uintptr) bool { return false }
