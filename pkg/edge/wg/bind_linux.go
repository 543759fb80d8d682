package wg

import (
	"net"
	"syscall"
)

// growSocketBuffers raises the UDP socket's buffers to socketBufferSize,
// past net.core.{r,w}mem_max when the process may (CAP_NET_ADMIN, as
// wireguard-go does): with the default ~200 KiB, bursts of tunnel packets
// overflow the receive queue and TCP inside the tunnel collapses.
func growSocketBuffers(uc *net.UDPConn) {
	uc.SetReadBuffer(socketBufferSize)
	uc.SetWriteBuffer(socketBufferSize)
	rc, err := uc.SyscallConn()
	if err != nil {
		return
	}
	rc.Control(func(fd uintptr) {
		_ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUFFORCE, socketBufferSize)
		_ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_SNDBUFFORCE, socketBufferSize)
	})
}
