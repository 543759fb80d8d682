package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/ztagent/ztagent/internal/secret"
	"github.com/ztagent/ztagent/pkg/apierror"
	"github.com/ztagent/ztagent/pkg/control"
)

// Client is a typed client of the admin API, used by edged's commands, the
// tests and the demo.
type Client struct {
	// BaseURL is the API listener, e.g. http://127.0.0.1:8780.
	BaseURL string
	Token   secret.Value
	// HTTP is the client to use; a client with a 30 s timeout when nil.
	HTTP *http.Client
}

func (c *Client) do(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimSuffix(c.BaseURL, "/")+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.Token.Reveal())
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	hc := c.HTTP
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("reach the edge's admin API at %s: %w (is edged running? check --api)", c.BaseURL, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return fmt.Errorf("read the admin API's answer: %w", err)
	}
	if resp.StatusCode == http.StatusUnprocessableEntity && out != nil && !isErrorBody(data) {
		// A refused reload answers the ReloadResult that lists the errors.
		if json.Unmarshal(data, out) == nil {
			return apierror.WithStatus(resp.StatusCode, control.CodeInvalidConfig, "the new configuration has errors; the old one stays in force", "")
		}
	}
	if resp.StatusCode >= 300 {
		return apierror.Decode(resp.StatusCode, data, strings.TrimSpace(string(data)))
	}
	if out == nil || len(data) == 0 {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("the admin API answered something that is not the expected JSON: %w", err)
	}
	return nil
}

// Devices returns every device the edge knows, in any state.
func (c *Client) Devices(ctx context.Context) ([]control.Device, error) {
	var out []control.Device
	return out, c.do(ctx, http.MethodGet, "/admin/v1/devices", nil, &out)
}

// Revoke revokes a device (S14) and returns it.
func (c *Client) Revoke(ctx context.Context, id string) (control.Device, error) {
	var out control.Device
	return out, c.do(ctx, http.MethodDelete, "/admin/v1/devices/"+url.PathEscape(id), nil, &out)
}

// AdvanceClock moves the simulated time forward by d.
func (c *Client) AdvanceClock(ctx context.Context, d time.Duration) (control.ClockState, error) {
	var out control.ClockState
	return out, c.do(ctx, http.MethodPost, "/admin/v1/clock", control.ClockRequest{Advance: d.String()}, &out)
}

// Clock returns the simulated time.
func (c *Client) Clock(ctx context.Context) (control.ClockState, error) {
	var out control.ClockState
	return out, c.do(ctx, http.MethodGet, "/admin/v1/clock", nil, &out)
}

// Reload asks the edge to load its configuration again. A refused reload
// returns an error with code invalid_config and a result that lists the
// configuration's errors.
func (c *Client) Reload(ctx context.Context) (control.ReloadResult, error) {
	var out control.ReloadResult
	return out, c.do(ctx, http.MethodPost, "/admin/v1/reload", nil, &out)
}

// Audit returns the audit records after seq.
func (c *Client) Audit(ctx context.Context, after int64, limit int) (control.AuditPage, error) {
	var out control.AuditPage
	q := url.Values{"after": {strconv.FormatInt(after, 10)}}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	return out, c.do(ctx, http.MethodGet, "/admin/v1/audit?"+q.Encode(), nil, &out)
}

// isErrorBody reports whether data is an {"error":{…}} answer.
func isErrorBody(data []byte) bool {
	var b apierror.Body
	return json.Unmarshal(data, &b) == nil && b.Error.Code != ""
}
