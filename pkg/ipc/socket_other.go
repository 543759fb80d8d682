//go:build !unix

package ipc

import (
	"errors"
	"net"
	"os"
)

var errNoUnix = errors.New("ipc: the agentd socket is only supported on unix systems")

func listenSocket(string) (*net.UnixListener, os.FileInfo, error) { return nil, nil, errNoUnix }

func removeSocket(string, os.FileInfo) error { return nil }
