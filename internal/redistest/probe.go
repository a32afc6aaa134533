package redistest

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"strconv"
	"time"
)

// probeTimeout bounds one readiness probe.
const probeTimeout = 500 * time.Millisecond

// probe sends INFO server over a raw connection and returns the process_id
// it reports. It speaks RESP directly so that readiness polling neither
// depends on nor logs through a client library.
func probe(addr string) (int, error) {
	conn, err := net.DialTimeout("tcp", addr, probeTimeout)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(probeTimeout)); err != nil {
		return 0, err
	}
	if _, err := io.WriteString(conn, "*2\r\n$4\r\nINFO\r\n$6\r\nserver\r\n"); err != nil {
		return 0, err
	}
	info, err := readBulk(bufio.NewReader(conn))
	if err != nil {
		return 0, err
	}
	return pidFromInfo(info)
}

// readBulk reads one RESP bulk string; an error reply (LOADING, ...) is
// returned as an error.
func readBulk(r *bufio.Reader) ([]byte, error) {
	line, err := r.ReadBytes('\n')
	if err != nil {
		return nil, err
	}
	line = bytes.TrimRight(line, "\r\n")
	if len(line) == 0 || line[0] != '$' {
		return nil, fmt.Errorf("unexpected reply %q", line)
	}
	n, err := strconv.Atoi(string(line[1:]))
	if err != nil || n < 0 {
		return nil, fmt.Errorf("bad bulk length %q", line)
	}
	buf := make([]byte, n+2)
	if _, err := io.ReadFull(r, buf); err != nil {
		return nil, err
	}
	return buf[:n], nil
}

func pidFromInfo(info []byte) (int, error) {
	for line := range bytes.SplitSeq(info, []byte("\r\n")) {
		if v, ok := bytes.CutPrefix(line, []byte("process_id:")); ok {
			return strconv.Atoi(string(v))
		}
	}
	return 0, fmt.Errorf("no process_id in INFO server")
}
