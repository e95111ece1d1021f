package wire

import (
	"strconv"
	"unicode/utf16"
)

// StreamKey returns the stream that carries namespace nsp's messages: name
// itself when count is 1 or less, otherwise name + "-" + index, where index
// is the Java-style hash of nsp modulo count, as computeStreamName does.
//
// For a namespace whose hash is negative, Node computes a negative index
// (JavaScript's % keeps the sign), writes to a stream such as "socket.io--3"
// that no server reads, and so loses those messages. StreamKey takes the
// non-negative remainder instead ("socket.io-1" for -3 and count 4), a
// stream every server reads. For non-negative hashes the two agree.
func StreamKey(name string, count int, nsp string) string {
	if count <= 1 {
		return name
	}
	i := int(hashCode(nsp)) % count
	if i < 0 {
		i += count
	}
	return name + "-" + strconv.Itoa(i)
}

// NodeStreamKey returns the stream Node's computeStreamName picks, negative
// index included. It is for diagnostics and tests: a mixed cluster must not
// use a namespace for which it differs from StreamKey.
func NodeStreamKey(name string, count int, nsp string) string {
	if count <= 1 {
		return name
	}
	return name + "-" + strconv.Itoa(int(hashCode(nsp))%count)
}

// hashCode is the adapter's Java-style string hash (h = h*31 + c over the
// UTF-16 code units, wrapping at 32 bits).
func hashCode(s string) int32 {
	var h int32
	for _, c := range utf16.Encode([]rune(s)) {
		h = h*31 + int32(c)
	}
	return h
}
