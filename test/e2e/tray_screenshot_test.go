//go:build linux

package e2e

import (
	"bytes"
	"fmt"
	"image"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/ztagent/ztagent/internal/testenv/desktop"
	testproc "github.com/ztagent/ztagent/internal/testenv/proc"
	"github.com/ztagent/ztagent/internal/testenv/realdeps"
)

// screenshotEnv names the PNG TestE2E_TrayScreenshot writes; make
// tray-screenshot sets it to docs/tray-menu.png.
const screenshotEnv = "ZTAGENT_TRAY_SCREENSHOT"

// xfcePanelConfig is an Xfce panel along the top holding only a
// separator and the Status Tray, which hosts StatusNotifierItems.
const xfcePanelConfig = `<?xml version="1.0" encoding="UTF-8"?>
<channel name="xfce4-panel" version="1.0">
  <property name="configver" type="int" value="2"/>
  <property name="panels" type="array">
    <value type="int" value="1"/>
    <property name="panel-1" type="empty">
      <property name="position" type="string" value="p=6;x=0;y=0"/>
      <property name="length" type="uint" value="100"/>
      <property name="position-locked" type="bool" value="true"/>
      <property name="size" type="uint" value="32"/>
      <property name="plugin-ids" type="array">
        <value type="int" value="1"/>
        <value type="int" value="2"/>
      </property>
    </property>
  </property>
  <property name="plugins" type="empty">
    <property name="plugin-1" type="string" value="separator">
      <property name="expand" type="bool" value="true"/>
      <property name="style" type="uint" value="0"/>
    </property>
    <property name="plugin-2" type="string" value="systray">
      <property name="square-icons" type="bool" value="true"/>
    </property>
  </property>
</channel>
`

// TestE2E_TrayScreenshot renders the tray's menu, at the moment two
// sessions expired, in a real panel (Xfce's, under Xvfb) and writes it to
// $ZTAGENT_TRAY_SCREENSHOT for the documentation. It is a generator, run
// by make tray-screenshot, which installs the desktop packages it needs;
// make test does not run it.
func TestE2E_TrayScreenshot(t *testing.T) {
	out := os.Getenv(screenshotEnv)
	if out == "" {
		t.Skipf("set %s=FILE.png to render the tray in a real panel (make tray-screenshot)", screenshotEnv)
	}
	const fix = "run make tray-screenshot, which installs xvfb, xfce4-panel, imagemagick and xdotool"
	xvfb := realdeps.Tool(t, "Xvfb", fix)
	panel := realdeps.Tool(t, "xfce4-panel", fix)
	importTool := realdeps.Tool(t, "import", fix)
	xdotool := realdeps.Tool(t, "xdotool", fix)
	xfconfd, _ := filepath.Glob("/usr/lib/*/xfce4/xfconf/xfconfd")
	if len(xfconfd) == 0 {
		realdeps.Missing(t, "xfconfd", fix)
	}

	w := trayWorld(t)
	d := startDesk(w)
	display := startXvfb(t, xvfb)
	home := t.TempDir()
	cfgDir := filepath.Join(home, ".config", "xfce4", "xfconf", "xfce-perchannel-xml")
	if err := os.MkdirAll(cfgDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(cfgDir, "xfce4-panel.xml"), []byte(xfcePanelConfig), 0o644); err != nil {
		t.Fatal(err)
	}
	env := append(osEnv(), "HOME="+home, "XDG_CONFIG_HOME="+filepath.Join(home, ".config"),
		"DISPLAY="+display, d.bus.Env(), "NO_AT_BRIDGE=1")
	testproc.Start(t, testproc.Options{Name: "xfconfd", Bin: xfconfd[0], Env: env})
	waitOwner(w, d.conn, "org.xfce.Xfconf")
	testproc.Start(t, testproc.Options{Name: "xfce4-panel", Bin: panel, Args: []string{"--disable-wm-check"}, Env: env})
	waitOwner(w, d.conn, "org.kde.StatusNotifierWatcher")

	d.tray = d.startTray("agenttray")
	d.item = desktop.ItemOf(d.conn, desktop.Registration{
		Sender: waitOwner(w, d.conn, fmt.Sprintf("org.kde.StatusNotifierItem-%d-1", d.tray.Pid())),
		Path:   "/StatusNotifierItem"})
	b := startBrowser(w)
	d.registerFromMenu(b, d.waitMenu("the unregistered state", has("Register…")))
	d.waitMenu("connected", has("Connected as alice@example.com"))
	w.edged("clock", "advance", "2h")
	w.get(wikiURL)
	w.get(gitURL)
	d.nextPrompt()
	d.waitMenu("re-authentication required", has("Re-authentication required", "Git over HTTP: expired"))

	shoot := func() image.Image {
		cmd := exec.Command(importTool, "-window", "root", "png:-")
		cmd.Env = env
		b, err := cmd.Output()
		if err != nil {
			w.fatalf("screenshot: %v", err)
		}
		img, err := png.Decode(bytes.NewReader(b))
		if err != nil {
			w.fatalf("decode the screenshot: %v", err)
		}
		return img
	}
	// The attention icon's red-orange (pkg/tray's icons), in the panel.
	x, y, ok := 0, 0, false
	deadline := time.Now().Add(stepTimeout)
	for !ok {
		if time.Now().After(deadline) {
			w.fatalf("the panel never showed the tray's icon")
		}
		x, y, ok = findColor(shoot(), 0xd9, 0x3f, 0x0b, 40)
	}
	before := shoot()
	click := exec.Command(xdotool, "mousemove", strconv.Itoa(x), strconv.Itoa(y), "click", "1")
	click.Env = env
	if b, err := click.CombinedOutput(); err != nil {
		w.fatalf("xdotool: %v: %s", err, b)
	}
	// The menu opens below the panel: wait for the screen there to change,
	// then for it to settle.
	var last image.Image
	deadline = time.Now().Add(stepTimeout)
	for {
		img := shoot()
		if changedBelow(before, img, 40) && last != nil && !changedBelow(last, img, 0) {
			last = img
			break
		}
		last = img
		if time.Now().After(deadline) {
			w.fatalf("the tray's menu never opened in the panel")
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, last); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(out, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote %s", out)
}

// startXvfb starts an X server on a free display and returns its name.
func startXvfb(t *testing.T, bin string) string {
	t.Helper()
	r, wr, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	cmd := exec.Command(bin, "-displayfd", "3", "-screen", "0", "800x300x24", "-nolisten", "tcp")
	cmd.ExtraFiles = []*os.File{wr}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	wr.Close()
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	got := make(chan string, 1)
	go func() {
		b := make([]byte, 16)
		n, _ := r.Read(b)
		got <- strings.TrimSpace(string(b[:n]))
	}()
	select {
	case n := <-got:
		if n == "" {
			t.Fatal("Xvfb printed no display number")
		}
		return ":" + n
	case <-time.After(startTimeout):
		t.Fatal("Xvfb did not start")
	}
	return ""
}

// waitOwner waits until name has an owner on the bus and returns it:
// it asks again each time the bus announces an owner change.
func waitOwner(w *world, conn *dbus.Conn, name string) string {
	w.t.Helper()
	changed, stop := desktop.SignalsFrom(conn, "org.freedesktop.DBus")
	defer stop()
	deadline := time.NewTimer(startTimeout)
	defer deadline.Stop()
	for {
		var owner string
		err := conn.BusObject().Call("org.freedesktop.DBus.GetNameOwner", 0, name).Store(&owner)
		if err == nil {
			return owner
		}
		select {
		case <-changed:
		case <-deadline.C:
			w.fatalf("nobody owns %s on the desktop bus within %v: %v", name, startTimeout, err)
		}
	}
}

// findColor returns the centre of the pixels of colour (r, g, b) in the
// top rows of img.
func findColor(img image.Image, r, g, b uint8, rows int) (x, y int, ok bool) {
	var sx, sy, n int
	bnd := img.Bounds()
	for py := bnd.Min.Y; py < bnd.Min.Y+rows && py < bnd.Max.Y; py++ {
		for px := bnd.Min.X; px < bnd.Max.X; px++ {
			cr, cg, cb, _ := img.At(px, py).RGBA()
			if near(cr>>8, r) && near(cg>>8, g) && near(cb>>8, b) {
				sx, sy, n = sx+px, sy+py, n+1
			}
		}
	}
	if n < 20 {
		return 0, 0, false
	}
	return sx / n, sy / n, true
}

func near(a uint32, b uint8) bool { return a+12 >= uint32(b) && a <= uint32(b)+12 }

// changedBelow reports whether a and b differ anywhere below row top.
func changedBelow(a, b image.Image, top int) bool {
	bnd := a.Bounds()
	for py := bnd.Min.Y + top; py < bnd.Max.Y; py++ {
		for px := bnd.Min.X; px < bnd.Max.X; px++ {
			if a.At(px, py) != b.At(px, py) {
				return true
			}
		}
	}
	return false
}
