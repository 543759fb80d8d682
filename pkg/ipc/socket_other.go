//go:build !unix && !windows

package ipc

import (
	"context"
	"errors"
	"net"
	"os"

	"github.com/ztagent/ztagent/platform/peercred"
)

var errNoUnix = errors.New("ipc: the agentd socket is only supported on unix systems")

func listenSocket(string) (net.Listener, os.FileInfo, error) { return nil, nil, errNoUnix }

func dialSocket(context.Context, string) (net.Conn, error) { return nil, errNoUnix }

func daemonCred(net.Conn) (peercred.Cred, error) { return peercred.Cred{}, peercred.ErrUnsupported }

func removeSocket(string, os.FileInfo) error { return nil }

// checkDaemonSocketDir checks nothing here: there is no unix socket to
// reach, and the peer check refuses what it cannot verify.
func checkDaemonSocketDir(string) error { return nil }
