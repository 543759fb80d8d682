package idp

import (
	"encoding/json"
	"net/http"
)

// Endpoint paths, relative to the issuer.
const (
	PathDiscovery = "/.well-known/openid-configuration"
	PathJWKS      = "/jwks"
	PathAuthorize = "/authorize"
	PathLogin     = "/login"
	PathToken     = "/token"
)

func (p *Provider) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+PathDiscovery, p.serveDiscovery)
	mux.HandleFunc("GET "+PathJWKS, p.serveJWKS)
	mux.HandleFunc("GET "+PathAuthorize, p.serveAuthorize)
	mux.HandleFunc("POST "+PathAuthorize, p.serveAuthorize)
	mux.HandleFunc("POST "+PathLogin, p.serveLogin)
	mux.HandleFunc("POST "+PathToken, p.serveToken)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		p.mu.Lock()
		closed := p.closed
		p.mu.Unlock()
		if closed {
			http.Error(w, "the identity provider is shutting down; try again once the simulator is running", http.StatusServiceUnavailable)
			return
		}
		mux.ServeHTTP(w, r)
	})
}

// discovery is the OpenID Provider Metadata document.
type discovery struct {
	Issuer                 string   `json:"issuer"`
	AuthorizationEndpoint  string   `json:"authorization_endpoint"`
	TokenEndpoint          string   `json:"token_endpoint"`
	JWKSURI                string   `json:"jwks_uri"`
	ResponseTypes          []string `json:"response_types_supported"`
	ResponseModes          []string `json:"response_modes_supported"`
	GrantTypes             []string `json:"grant_types_supported"`
	SubjectTypes           []string `json:"subject_types_supported"`
	IDTokenSigningAlgs     []string `json:"id_token_signing_alg_values_supported"`
	Scopes                 []string `json:"scopes_supported"`
	TokenEndpointAuth      []string `json:"token_endpoint_auth_methods_supported"`
	Claims                 []string `json:"claims_supported"`
	CodeChallengeMethods   []string `json:"code_challenge_methods_supported"`
	PromptValues           []string `json:"prompt_values_supported"`
	ClaimsParameter        bool     `json:"claims_parameter_supported"`
	RequestParameter       bool     `json:"request_parameter_supported"`
	RequestURIParameter    bool     `json:"request_uri_parameter_supported"`
	AuthResponseIssParam   bool     `json:"authorization_response_iss_parameter_supported"`
	FrontchannelLogoutSupp bool     `json:"frontchannel_logout_supported"`
}

func (p *Provider) serveDiscovery(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, discovery{
		Issuer:                p.iss,
		AuthorizationEndpoint: p.iss + PathAuthorize,
		TokenEndpoint:         p.iss + PathToken,
		JWKSURI:               p.iss + PathJWKS,
		ResponseTypes:         []string{"code"},
		ResponseModes:         []string{"query"},
		GrantTypes:            []string{"authorization_code"},
		SubjectTypes:          []string{"public"},
		IDTokenSigningAlgs:    []string{string(p.alg)},
		Scopes:                []string{"openid", "email", "profile", "groups"},
		TokenEndpointAuth:     []string{"client_secret_basic", "client_secret_post", "none"},
		Claims: []string{"iss", "sub", "aud", "exp", "iat", "auth_time", "nonce",
			"email", "email_verified", "name", "groups"},
		CodeChallengeMethods: []string{"S256"},
		PromptValues:         []string{"none", "login", "consent", "select_account"},
	})
}

func (p *Provider) serveJWKS(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, p.jwks)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
