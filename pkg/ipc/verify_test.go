package ipc

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"time"
)

const (
	fakeDaemonEnv     = "ZTAGENT_IPC_FAKE_DAEMON_SOCKET"
	fakeDaemonReady   = "LISTENING"
	fakeDaemonNothing = "READ nothing"
	fakeDaemonRequest = "READ request"
	// fakeAuthURL is what the fake daemon answers every request with: the
	// attacker's page that `agentctl register` used to open.
	fakeAuthURL = "http://evil.example/login"
)

// fakeDaemonChild is the attacker of item 7 of issue 12, run as another
// uid: it listens where agentd should, answers any request with its own
// URL, and reports for each connection whether a request reached it.
func fakeDaemonChild(sock string) int {
	ln, err := net.Listen("unix", sock)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer ln.Close()
	// Anyone may connect, as to the real agentd's socket.
	if err := os.Chmod(sock, 0o666); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	go func() {
		// The parent closes stdin to end the child.
		_, _ = io.Copy(io.Discard, os.Stdin)
		_ = ln.Close()
	}()
	fmt.Println(fakeDaemonReady)
	for {
		c, err := ln.Accept()
		if err != nil {
			return 0
		}
		_ = c.SetDeadline(time.Now().Add(30 * time.Second))
		req, err := http.ReadRequest(bufio.NewReader(c))
		if err != nil {
			fmt.Println(fakeDaemonNothing)
			_ = c.Close()
			continue
		}
		fmt.Println(fakeDaemonRequest, req.Method, req.URL.Path)
		body := `{"auth_url":"` + fakeAuthURL + `"}`
		_, _ = fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nZtagent-Api-Version: 1\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
		_ = c.Close()
	}
}
