package control

import (
	"context"
	"net/http"
	"net/url"
	"time"

	"github.com/ztagent/ztagent/internal/secret"
)

// DeviceCodeRequest is the body of POST /v1/device/code: the start of the
// device authorization flow (RFC 8628), for a device whose person signs in
// on another machine. CodeChallenge is the agent's PKCE S256 challenge;
// Name is the device's name, shown to the person.
type DeviceCodeRequest struct {
	CodeChallenge string `json:"code_challenge"`
	Name          string `json:"name"`
}

// DevicePair is the answer: the device code the agent polls with, and the
// user code and URLs it shows the person. Intervals are in seconds.
type DevicePair struct {
	DeviceCode              string `json:"device_code"`
	UserCode                string `json:"user_code"`
	VerificationURI         string `json:"verification_uri"`
	VerificationURIComplete string `json:"verification_uri_complete"`
	ExpiresIn               int    `json:"expires_in"`
	Interval                int    `json:"interval"`
}

// DeviceTokenRequest is the body of POST /v1/device/token, one poll.
type DeviceTokenRequest struct {
	DeviceCode   string `json:"device_code"`
	CodeVerifier string `json:"code_verifier"`
}

// DeviceToken is a successful poll: the one-time enrollment code, which
// POST /v1/registrations redeems with the same verifier; for a
// re-authentication (POST /v1/registrations/{id}/device/code) no code but
// Reauthenticated and the new AuthTime, the device's session having been
// refreshed at the sign-in (S2).
type DeviceToken struct {
	Code            string    `json:"code,omitempty"`
	Reauthenticated bool      `json:"reauthenticated,omitempty"`
	AuthTime        time.Time `json:"auth_time,omitzero"`
}

// Poll answers of POST /v1/device/token besides success (RFC 8628 §3.5),
// as the code of the error.
const (
	CodeAuthorizationPending = "authorization_pending"
	CodeSlowDown             = "slow_down"
	CodeExpiredToken         = "expired_token"
	CodeAccessDenied         = "access_denied"
)

// StartDevice begins the device authorization flow.
func (c *Client) StartDevice(ctx context.Context, req DeviceCodeRequest) (DevicePair, error) {
	var p DevicePair
	err := c.do(ctx, http.MethodPost, "/v1/device/code", req, &p, false)
	if p.DeviceCode != "" {
		secret.New(p.DeviceCode)
	}
	return p, err
}

// StartDeviceReauth begins the device flow to re-authenticate the
// client's own device (the client carries its device token).
func (c *Client) StartDeviceReauth(ctx context.Context, deviceID string, req DeviceCodeRequest) (DevicePair, error) {
	var p DevicePair
	err := c.do(ctx, http.MethodPost, "/v1/registrations/"+url.PathEscape(deviceID)+"/device/code", req, &p, true)
	if p.DeviceCode != "" {
		secret.New(p.DeviceCode)
	}
	return p, err
}

// PollDevice polls once; an error with code authorization_pending or
// slow_down means poll again later.
func (c *Client) PollDevice(ctx context.Context, req DeviceTokenRequest) (DeviceToken, error) {
	secret.New(req.DeviceCode)
	secret.New(req.CodeVerifier)
	var tok DeviceToken
	err := c.do(ctx, http.MethodPost, "/v1/device/token", req, &tok, false)
	if tok.Code != "" {
		secret.New(tok.Code)
	}
	return tok, err
}
