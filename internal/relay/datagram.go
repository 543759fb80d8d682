package relay

import "io"

// CopyDatagrams copies datagrams from src to dst, one Write for each Read,
// until either fails, and returns the payload bytes written. src must
// return one whole datagram per Read (a connected UDP socket). onDatagram,
// when not nil, is called after every datagram read: that is how an
// IdleTimer hears of traffic.
func CopyDatagrams(dst io.Writer, src io.Reader, onDatagram func()) int64 {
	bp := datagramBufs.Get()
	defer datagramBufs.Put(bp)
	buf := *bp
	var total int64
	for {
		n, err := src.Read(buf)
		if err != nil {
			return total
		}
		if onDatagram != nil {
			onDatagram()
		}
		w, err := dst.Write(buf[:n])
		total += int64(w)
		if err != nil {
			return total
		}
	}
}
