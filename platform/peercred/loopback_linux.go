//go:build linux

package peercred

import (
	"bufio"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
)

// socketTables are the kernel's TCP socket lists; a client may reach an
// IPv4 listener from an IPv6 socket through a v4-mapped address.
var socketTables = []string{"/proc/net/tcp", "/proc/net/tcp6"}

// loopbackTCPOwner finds the client's socket: its local address is our
// remote one and its remote address our local one.
func loopbackTCPOwner(local, remote *net.TCPAddr) (int, error) {
	for _, table := range socketTables {
		uid, found, err := findOwner(table, remote, local)
		if err != nil && !os.IsNotExist(err) {
			return 0, err
		}
		if found {
			return uid, nil
		}
	}
	return 0, ErrOwnerNotFound
}

func findOwner(table string, self, peer *net.TCPAddr) (uid int, found bool, err error) {
	f, err := os.Open(table)
	if err != nil {
		return 0, false, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Scan() // the header line
	for sc.Scan() {
		// sl local_address rem_address st tx:rx tr:when retrnsmt uid ...
		fields := strings.Fields(sc.Text())
		if len(fields) < 8 {
			continue
		}
		if !sameEndpoint(fields[1], self) || !sameEndpoint(fields[2], peer) {
			continue
		}
		n, err := strconv.Atoi(fields[7])
		if err != nil {
			return 0, false, fmt.Errorf("%s: bad uid %q", table, fields[7])
		}
		return n, true, nil
	}
	if err := sc.Err(); err != nil {
		return 0, false, fmt.Errorf("reading %s: %w", table, err)
	}
	return 0, false, nil
}

// sameEndpoint reports whether a socket table's "ADDR:PORT" names a. The
// kernel prints each 32-bit word of the address as a host-order integer
// and the port in hex.
func sameEndpoint(field string, a *net.TCPAddr) bool {
	hexAddr, hexPort, ok := strings.Cut(field, ":")
	if !ok {
		return false
	}
	port, err := strconv.ParseUint(hexPort, 16, 16)
	if err != nil || int(port) != a.Port {
		return false
	}
	raw, err := hex.DecodeString(hexAddr)
	if err != nil || (len(raw) != 4 && len(raw) != 16) {
		return false
	}
	ip := make(net.IP, len(raw))
	for i := 0; i < len(raw); i += 4 {
		binary.NativeEndian.PutUint32(ip[i:], binary.BigEndian.Uint32(raw[i:]))
	}
	return ip.Equal(a.IP)
}
