package loopback

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/ztagent/ztagent/internal/wgkey"
	"golang.zx2c4.com/wireguard/conn"
	"golang.zx2c4.com/wireguard/device"
	"golang.zx2c4.com/wireguard/tun"
	"golang.zx2c4.com/wireguard/tun/netstack"
)

// The stock pair's addresses inside its tunnel.
var (
	stockSrc  = netip.MustParseAddr("10.9.0.1")
	stockSink = netip.MustParseAddr("10.9.0.2")
)

// StockPair returns a TCP connection from one stock wireguard-go netstack
// device to a sink (ServeSink) inside another, the devices peered over
// loopback UDP with wireguard-go's default bind: the reference tunnel
// throughput is compared with, at the same MTU. Everything is closed when
// tb ends.
func StockPair(tb testing.TB, mtu int) net.Conn {
	tb.Helper()
	tunA, netA, err := netstack.CreateNetTUN([]netip.Addr{stockSrc}, nil, mtu)
	if err != nil {
		tb.Fatal(err)
	}
	tunB, netB, err := netstack.CreateNetTUN([]netip.Addr{stockSink}, nil, mtu)
	if err != nil {
		tb.Fatal(err)
	}
	JoinDevices(tb, tunA, tunB, stockSrc, stockSink)
	l, err := netB.ListenTCPAddrPort(netip.AddrPortFrom(stockSink, 9))
	if err != nil {
		tb.Fatal(err)
	}
	ServeSink(tb, l)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := netA.DialContextTCPAddrPort(ctx, netip.AddrPortFrom(stockSink, 9))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { c.Close() })
	return c
}

// JoinDevices runs a wireguard-go device on each of ta and tb, peered with
// each other over loopback UDP (default bind, fresh keys): a carries the
// tunnel address addrA and reaches addrB, and the other way round. The
// devices, and so ta and tb, are closed when tb ends.
func JoinDevices(t testing.TB, ta, tb tun.Device, addrA, addrB netip.Addr) {
	t.Helper()
	var priv [2]wgkey.Private
	var pub [2]wgkey.Public
	for i := range priv {
		k, err := wgkey.Generate()
		if err != nil {
			t.Fatal(err)
		}
		priv[i], pub[i] = k, k.Public()
	}
	quiet := device.NewLogger(device.LogLevelSilent, "")
	devA := device.NewDevice(ta, conn.NewDefaultBind(), quiet)
	devB := device.NewDevice(tb, conn.NewDefaultBind(), quiet)
	t.Cleanup(func() { devA.Close(); devB.Close() })
	if err := devB.IpcSet(fmt.Sprintf("private_key=%s\nlisten_port=0\npublic_key=%s\nallowed_ip=%s/%d\n",
		priv[1].UAPIHex(), pub[0].UAPIHex(), addrA, addrA.BitLen())); err != nil {
		t.Fatal(err)
	}
	if err := devB.Up(); err != nil {
		t.Fatal(err)
	}
	state, err := devB.IpcGet()
	if err != nil {
		t.Fatal(err)
	}
	i := strings.Index(state, "listen_port=")
	var port int
	if i < 0 {
		t.Fatal("the second device reports no listen port")
	}
	fmt.Sscanf(state[i:], "listen_port=%d", &port)
	if err := devA.IpcSet(fmt.Sprintf("private_key=%s\npublic_key=%s\nendpoint=127.0.0.1:%d\nallowed_ip=%s/%d\n",
		priv[0].UAPIHex(), pub[1].UAPIHex(), port, addrB, addrB.BitLen())); err != nil {
		t.Fatal(err)
	}
	if err := devA.Up(); err != nil {
		t.Fatal(err)
	}
}
