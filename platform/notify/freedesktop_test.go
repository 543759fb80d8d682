package notify

import (
	"context"
	"errors"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/ztagent/ztagent/internal/testenv/desktop"
	"github.com/ztagent/ztagent/internal/testenv/sessionbus"
	"github.com/ztagent/ztagent/pkg/tray"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const wait = 30 * time.Second

func TestNotifyShowsTheNoticeAndReportsItsAction(t *testing.T) {
	bus := sessionbus.Start(t)
	svc := desktop.StartNotifications(t, desktop.Connect(t, bus.Address))
	conn := desktop.Connect(t, bus.Address)
	actions := make(chan uint32, 4)
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	c, err := Connect(ctx, conn, "ztagent", func(id uint32) { actions <- id })
	if err != nil {
		t.Fatal(err)
	}
	defer c.Shutdown()

	n := tray.Notice{Kind: tray.KindReauth, Summary: "Re-authenticate your session",
		Body: "Your session for <Wiki> & Git expired.", Action: "Re-authenticate", URL: "https://secret.example/x", Urgent: true}
	id, err := c.Notify(ctx, n, 0)
	if err != nil {
		t.Fatal(err)
	}
	got := svc.Next(t, wait)
	if got.ID != id || got.App != "ztagent" || got.Summary != n.Summary {
		t.Fatalf("the service got %+v, want id %d", got, id)
	}
	// The server reads markup, so the organization's names are escaped.
	if got.Body != "Your session for &lt;Wiki&gt; &amp; Git expired." {
		t.Errorf("body %q", got.Body)
	}
	if len(got.Actions) != 2 || got.Actions[0] != "default" || got.Actions[1] != "Re-authenticate" {
		t.Errorf("actions %q", got.Actions)
	}
	if u, _ := got.Hints["urgency"].Value().(byte); u != 2 || got.Timeout != 0 {
		t.Errorf("an urgent notice: urgency %v, timeout %d; want critical and no expiry", got.Hints["urgency"], got.Timeout)
	}
	for _, s := range []string{got.Summary, got.Body, got.Icon} {
		if s == n.URL {
			t.Errorf("the notification carries the URL")
		}
	}

	// Another key (a server's "close" button, say) is not the action.
	svc.Invoke(t, id, "other")
	svc.Invoke(t, id, "default")
	select {
	case a := <-actions:
		if a != id {
			t.Fatalf("action for %d, want %d", a, id)
		}
	case <-time.After(wait):
		t.Fatal("the action was not reported")
	}
	select {
	case a := <-actions:
		t.Fatalf("a second action %d was reported", a)
	default:
	}

	again, err := c.Notify(ctx, tray.Notice{Summary: "plain"}, id)
	if err != nil || again != id {
		t.Fatalf("replacing: %d, %v", again, err)
	}
	if r := svc.Next(t, wait); r.Replaces != id || len(r.Actions) != 0 {
		t.Errorf("the replacement %+v", r)
	}
	if err := c.Close(ctx, id); err != nil {
		t.Fatal(err)
	}
	if cl := svc.Closed(); len(cl) != 1 || cl[0] != id {
		t.Errorf("closed %v", cl)
	}
}

func TestConnectWithoutAServiceSaysSo(t *testing.T) {
	bus := sessionbus.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	_, err := Connect(ctx, desktop.Connect(t, bus.Address), "ztagent", nil)
	if !errors.Is(err, ErrNoService) {
		t.Fatalf("Connect with no service: %v, want ErrNoService", err)
	}
}
