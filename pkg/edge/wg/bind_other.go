//go:build !linux

package wg

import "net"

// growSocketBuffers raises the UDP socket's buffers as far as the system
// allows: with small ones, bursts of tunnel packets overflow the receive
// queue and TCP inside the tunnel collapses.
func growSocketBuffers(uc *net.UDPConn) {
	uc.SetReadBuffer(socketBufferSize)
	uc.SetWriteBuffer(socketBufferSize)
}
