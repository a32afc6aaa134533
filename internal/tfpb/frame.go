package tfpb

import (
	"encoding/binary"
	"fmt"
)

// Frame wraps msg in gRPC's Length-Prefixed-Message framing: a zero
// (uncompressed) flag byte, a 4-byte big-endian length, then msg.
func Frame(msg []byte) []byte {
	b := make([]byte, 5, 5+len(msg))
	binary.BigEndian.PutUint32(b[1:], uint32(len(msg)))
	return append(b, msg...)
}

// ParseFrame splits a body holding exactly one gRPC Length-Prefixed-Message
// into its compressed flag and message. Truncated bodies, trailing bytes
// and flags other than 0 or 1 wrap ErrFrame.
func ParseFrame(body []byte) (compressed bool, msg []byte, err error) {
	if len(body) < 5 {
		return false, nil, fmt.Errorf("%w: %d bytes, need at least 5", ErrFrame, len(body))
	}
	if body[0] > 1 {
		return false, nil, fmt.Errorf("%w: flag %d", ErrFrame, body[0])
	}
	n := binary.BigEndian.Uint32(body[1:5])
	if uint64(len(body)-5) != uint64(n) {
		return false, nil, fmt.Errorf("%w: length prefix %d, have %d bytes", ErrFrame, n, len(body)-5)
	}
	return body[0] == 1, body[5:], nil
}
