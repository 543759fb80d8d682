package accessgate

import (
	"fmt"
	"net"
	"slices"
	"strings"
	"time"

	"github.com/ztagent/ztagent/pkg/tfconfig"
)

// defaultSessionDuration is an application session's length when neither
// the policy, the application nor the organization sets one: Access's
// default.
const defaultSessionDuration = 24 * time.Hour

// Apps are the self-hosted Access applications of one configuration,
// compiled for per-request lookup. An Apps is immutable.
type Apps struct {
	byHost map[string][]*app // longest path prefix first
}

// app is one application as the gate uses it.
type app struct {
	id, name string
	index    int    // the application's place in the configuration: one per application, whatever its hostnames
	host     string // lower-case, no port: the {app} of /cdn-cgi/access/login/{app}
	path     string // "" or a path prefix such as /admin
	device   tfconfig.DeviceIdentity
	policies []*tfconfig.AccessPolicy // in evaluation order
	// session is the application session's length: the application's
	// session_duration, else the organization's, else 24h. A matching
	// policy's own session_duration overrides it.
	session time.Duration
	// immediate: the application's session_duration is "0s", which
	// expires immediately: every request signs in again, unless the
	// matching policy sets a duration of its own.
	immediate bool
}

// Compile returns the applications of cfg the gate protects: self-hosted
// (and browser-rendered) applications with a domain. It fails when two
// applications claim the same domain and path, which would make the
// policies that apply depend on declaration order.
func Compile(cfg *tfconfig.Config) (*Apps, error) {
	a := &Apps{byHost: map[string][]*app{}}
	if cfg == nil {
		return a, nil
	}
	orgSession := time.Duration(0)
	if cfg.Organization != nil {
		orgSession = cfg.Organization.SessionDuration
	}
	for i, src := range cfg.AccessApplications {
		if !src.ServedAtHostname() {
			continue
		}
		// One application, whatever its hostnames: its policies and
		// sessions are worked out once and shared.
		base := app{
			id: src.ID, index: i, name: src.Name,
			device:    cfg.DeviceIdentity(src),
			policies:  ordered(src.Policies),
			session:   firstPositive(src.SessionDuration, orgSession, defaultSessionDuration),
			immediate: src.SessionExpiresImmediately,
		}
		for _, domain := range src.Hostnames() {
			if err := a.add(base, src.Address(), domain); err != nil {
				return nil, err
			}
		}
	}
	return a, nil
}

// add protects domain (a hostname and path) with the application base,
// declared at address.
func (a *Apps) add(base app, address, domain string) error {
	host, path := splitDomain(domain)
	if host == "" {
		return fmt.Errorf("accessgate: %s has domain %q, which is not a host name; write it as wiki.acme.internal or wiki.acme.internal/path", address, domain)
	}
	ap := &base
	ap.host, ap.path = host, path
	for _, other := range a.byHost[host] {
		if other.path == path {
			return fmt.Errorf("accessgate: %q and %q both protect %s%s; give each application its own domain or path", other.name, ap.name, host, path)
		}
	}
	list := append(a.byHost[host], ap)
	slices.SortStableFunc(list, func(x, y *app) int { return len(y.path) - len(x.path) })
	a.byHost[host] = list
	return nil
}

// Len returns the number of applications the gate protects (an
// application with several hostnames counts once).
func (a *Apps) Len() int {
	seen := map[int]bool{}
	for _, l := range a.byHost {
		for _, ap := range l {
			seen[ap.index] = true
		}
	}
	return len(seen)
}

// match returns the application that protects a request for host (as the
// Host header has it) and path, or nil.
func (a *Apps) match(hostHeader, path string) *app {
	if len(a.byHost) == 0 {
		return nil
	}
	list := a.byHost[normalHost(hostHeader)]
	for _, ap := range list {
		if ap.path == "" || path == ap.path || strings.HasPrefix(path, strings.TrimSuffix(ap.path, "/")+"/") {
			return ap
		}
	}
	return nil
}

// normalHost lower-cases a Host header and drops the HTTP default port, so
// that wiki.acme.internal:80 is the wiki.
func normalHost(h string) string {
	h = strings.ToLower(strings.TrimSuffix(h, "."))
	if host, port, err := net.SplitHostPort(h); err == nil && port == "80" {
		h = host
	}
	return strings.TrimSuffix(h, ".")
}

// splitDomain splits an application domain (wiki.acme.internal/docs) into
// its host and path prefix.
func splitDomain(d string) (host, path string) {
	d = strings.TrimSpace(d)
	d = strings.TrimPrefix(strings.TrimPrefix(d, "https://"), "http://")
	host, rest, found := strings.Cut(d, "/")
	if found {
		path = "/" + strings.TrimSuffix(rest, "/")
		if path == "/" {
			path = ""
		}
	}
	host = normalHost(host)
	if host == "" || strings.ContainsAny(host, "@?#\\ *") {
		return "", ""
	}
	return host, path
}

// ordered returns an application's resolved policies in Access's
// evaluation order: bypass, then non_identity, then allow and deny, each
// group by precedence (an unset precedence after the set ones, in
// declaration order).
func ordered(ps []tfconfig.AppPolicy) []*tfconfig.AccessPolicy {
	type entry struct {
		p    *tfconfig.AccessPolicy
		rank int
		prec int
	}
	var es []entry
	for _, ap := range ps {
		if ap.Policy == nil {
			continue // unresolved: the loader reported it
		}
		prec := ap.Precedence
		if prec <= 0 {
			prec = int(^uint(0) >> 1)
		}
		es = append(es, entry{p: ap.Policy, rank: decisionRank(ap.Policy.Decision), prec: prec})
	}
	slices.SortStableFunc(es, func(x, y entry) int {
		if x.rank != y.rank {
			return x.rank - y.rank
		}
		switch {
		case x.prec < y.prec:
			return -1
		case x.prec > y.prec:
			return 1
		}
		return 0
	})
	out := make([]*tfconfig.AccessPolicy, len(es))
	for i, e := range es {
		out[i] = e.p
	}
	return out
}

func decisionRank(d string) int {
	switch d {
	case DecisionBypass:
		return 0
	case DecisionNonIdentity:
		return 1
	}
	return 2
}

func firstPositive(ds ...time.Duration) time.Duration {
	for _, d := range ds {
		if d > 0 {
			return d
		}
	}
	return 0
}
