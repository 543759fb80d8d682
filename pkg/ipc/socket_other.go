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

// checkDaemonSocketDir checks nothing here: there is no unix socket to
// reach, and the peer check refuses what it cannot verify.
func checkDaemonSocketDir(string) error { return nil }
