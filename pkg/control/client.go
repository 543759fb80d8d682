package control

import (
	"bufio"
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
)

// Client is a typed client of the control API. Requests that need a device
// token send Token.
type Client struct {
	// BaseURL is the edge's API, e.g. http://127.0.0.1:8780.
	BaseURL string
	// Token is the device token, for the /v1/registrations/{id} routes.
	Token secret.Value
	// HTTP is the client to use; a client with a 30 s timeout for plain
	// requests when nil (event streams never time out as a whole).
	HTTP *http.Client
}

func (c *Client) httpClient(stream bool) *http.Client {
	if c.HTTP != nil {
		if stream && c.HTTP.Timeout != 0 {
			cp := *c.HTTP
			cp.Timeout = 0
			return &cp
		}
		return c.HTTP
	}
	if stream {
		return &http.Client{}
	}
	return &http.Client{Timeout: 30 * time.Second}
}

func (c *Client) request(ctx context.Context, method, path string, body any, auth bool) (*http.Request, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimSuffix(c.BaseURL, "/")+path, rd)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if auth {
		req.Header.Set("Authorization", "Bearer "+c.Token.Reveal())
	}
	return req, nil
}

func (c *Client) do(ctx context.Context, method, path string, body, out any, auth bool) error {
	req, err := c.request(ctx, method, path, body, auth)
	if err != nil {
		return err
	}
	resp, err := c.httpClient(false).Do(req)
	if err != nil {
		return fmt.Errorf("reach the edge at %s: %w", c.BaseURL, err)
	}
	defer resp.Body.Close()
	if err := checkStatus(resp); err != nil {
		return err
	}
	if out == nil {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
		return nil
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 4<<20)).Decode(out); err != nil {
		return fmt.Errorf("the edge answered %s %s with something that is not the expected JSON: %w", method, path, err)
	}
	return nil
}

// checkStatus turns an error answer into an *apierror.Error, keeping the
// edge's code and hint.
func checkStatus(resp *http.Response) error {
	if resp.StatusCode < 300 {
		return nil
	}
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	return apierror.Decode(resp.StatusCode, data, strings.TrimSpace(string(data)))
}

// Team looks up a team by name (404 unknown_team).
func (c *Client) Team(ctx context.Context, name string) (Team, error) {
	var t Team
	return t, c.do(ctx, http.MethodGet, "/v1/teams/"+url.PathEscape(name), nil, &t, false)
}

// Register redeems an enrollment code. The returned DeviceToken is
// registered with the log scrubber before Register returns.
func (c *Client) Register(ctx context.Context, req RegisterRequest) (Registration, error) {
	secret.New(req.Code)
	secret.New(req.CodeVerifier)
	if req.ServiceToken != nil {
		secret.New(req.ServiceToken.ClientSecret)
	}
	var r Registration
	err := c.do(ctx, http.MethodPost, "/v1/registrations", req, &r, false)
	if r.DeviceToken != "" {
		secret.New(r.DeviceToken)
	}
	return r, err
}

// Device returns the device's own record.
func (c *Client) Device(ctx context.Context, id string) (Device, error) {
	var d Device
	return d, c.do(ctx, http.MethodGet, "/v1/registrations/"+url.PathEscape(id), nil, &d, true)
}

// Leave ends the device's registration (403 not_allowed_to_leave).
func (c *Client) Leave(ctx context.Context, id string) error {
	return c.do(ctx, http.MethodDelete, "/v1/registrations/"+url.PathEscape(id), nil, nil, true)
}

// Session returns the device's per-policy session deadlines and its
// Access device session.
func (c *Client) Session(ctx context.Context, id string) (Session, error) {
	var s Session
	return s, c.do(ctx, http.MethodGet, "/v1/registrations/"+url.PathEscape(id)+"/session", nil, &s, true)
}

// Explain returns the edge's decision trace for a flow to dst.
func (c *Client) Explain(ctx context.Context, id, dst, proto string) (Explanation, error) {
	var ex Explanation
	q := url.Values{"dst": {dst}, "proto": {proto}}
	return ex, c.do(ctx, http.MethodGet, "/v1/registrations/"+url.PathEscape(id)+"/explain?"+q.Encode(), nil, &ex, true)
}

// EventStream is an open event stream. Next blocks for the next event;
// Close ends the stream.
type EventStream struct {
	body io.ReadCloser
	sc   *bufio.Scanner
}

// Events opens the device's event stream after sequence number after.
func (c *Client) Events(ctx context.Context, id string, after int64) (*EventStream, error) {
	req, err := c.request(ctx, http.MethodGet, "/v1/registrations/"+url.PathEscape(id)+"/events?after="+strconv.FormatInt(after, 10), nil, true)
	if err != nil {
		return nil, err
	}
	resp, err := c.httpClient(true).Do(req)
	if err != nil {
		return nil, fmt.Errorf("reach the edge at %s: %w", c.BaseURL, err)
	}
	if err := checkStatus(resp); err != nil {
		resp.Body.Close()
		return nil, err
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	return &EventStream{body: resp.Body, sc: sc}, nil
}

// Next returns the next event. It returns io.EOF when the edge ended the
// stream (after device_revoked, or on shutdown): reconnect with the last
// Seq to resume.
func (s *EventStream) Next() (Event, error) {
	for s.sc.Scan() {
		line := bytes.TrimSpace(s.sc.Bytes())
		if len(line) == 0 {
			continue
		}
		var ev Event
		if err := json.Unmarshal(line, &ev); err != nil {
			return Event{}, fmt.Errorf("the edge sent an event that is not JSON: %w", err)
		}
		return ev, nil
	}
	if err := s.sc.Err(); err != nil {
		return Event{}, err
	}
	return Event{}, io.EOF
}

// Close ends the stream.
func (s *EventStream) Close() error { return s.body.Close() }
