package access

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"go.uber.org/zap"
)

// idpSet is the team domain's identity providers, the default first, and
// the relying party of each once discovered. It is guarded by
// TeamDomain.mu.
type idpSet struct {
	list []IdP
	rps  map[string]*relyingParty // by IdP ID
}

// newIdPSet validates the default IdP and the others, whose IDs must be
// set and distinct: sign-ins name an IdP by its ID.
func newIdPSet(def IdP, more []IdP) (idpSet, error) {
	var errs []error
	if err := def.validate(); err != nil {
		errs = append(errs, err)
	}
	s := idpSet{list: []IdP{def.clone()}, rps: map[string]*relyingParty{}}
	seen := map[string]bool{def.ID: true}
	for _, p := range more {
		switch {
		case p.ID == "":
			errs = append(errs, fmt.Errorf("access: identity provider %q has no ID; each one besides the default needs the ID sign-ins name it by", p.Name))
		case seen[p.ID]:
			errs = append(errs, fmt.Errorf("access: two identity providers have the ID %q", p.ID))
		}
		seen[p.ID] = true
		if err := p.validate(); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", p.label(), err))
		}
		s.list = append(s.list, p.clone())
	}
	return s, errors.Join(errs...)
}

func (s *idpSet) byID(id string) (IdP, bool) {
	for _, p := range s.list {
		if p.ID == id {
			return p, true
		}
	}
	return IdP{}, false
}

// label names the IdP for people: its name, else its issuer.
func (p IdP) label() string {
	if p.Name != "" {
		return p.Name
	}
	return p.Issuer
}

// SetIdPs replaces the identity providers, for a configuration reload:
// def is the one sign-ins use unless told otherwise, more the others. The
// next sign-in uses them; sign-ins already at an IdP finish with the
// provider they started with. On error nothing changes.
func (t *TeamDomain) SetIdPs(def IdP, more []IdP) error {
	s, err := newIdPSet(def, more)
	if err != nil {
		return err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.idps = s
	t.gen++
	return nil
}

// SetIdP replaces the identity providers with p alone (see SetIdPs).
func (t *TeamDomain) SetIdP(p IdP) error { return t.SetIdPs(p, nil) }

// IdP returns the default identity provider, for GET /v1/teams/{name}
// (type and prompt).
func (t *TeamDomain) IdP() IdP {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.idps.list[0].clone()
}

// relyingParty returns the relying party for the IdP with ID id, running
// its discovery the first time. A failed discovery is not kept: the next
// request tries again.
func (t *TeamDomain) relyingParty(ctx context.Context, id string) (*relyingParty, error) {
	t.discoverMu.Lock()
	defer t.discoverMu.Unlock()
	t.mu.Lock()
	cfg, ok := t.idps.byID(id)
	rp, gen := t.idps.rps[id], t.gen
	t.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("the identity provider %q is no longer configured", id)
	}
	if rp != nil {
		return rp, nil
	}
	rp, err := t.discover(ctx, cfg)
	if err != nil {
		return nil, err
	}
	t.mu.Lock()
	if t.gen == gen {
		t.idps.rps[id] = rp
	}
	t.mu.Unlock()
	return rp, nil
}

// ParamIdP is the query parameter that names the identity provider of a
// sign-in (/warp, refresh-identity, an application's login), by ID.
// ParamIdPHint names one only if it is offered: the Access gate sends an
// application's login to the IdP the device enrolled with, when the
// application allows it, and to the chooser otherwise.
const (
	ParamIdP     = "idp"
	ParamIdPHint = "idp_hint"
)

// chooseIdP picks the identity provider of a sign-in: the one the request
// names (idp=ID), else the only one offered, else the person's choice on a
// chooser page, as Cloudflare's login page offers one. app is the
// application of an Access login. It reports false when it answered the
// request itself (the chooser, or a refusal).
func (t *TeamDomain) chooseIdP(w http.ResponseWriter, r *http.Request, q url.Values, trigger Trigger, app string) (IdP, bool) {
	var allowed []string
	if t.perms != nil {
		ids, err := t.perms.LoginIdPs(trigger, app)
		if err != nil {
			t.log.Info("access: sign-in refused", zap.String("trigger", string(trigger)), zap.String("reason", "no_idp_allowed"), zap.String("app", app))
			t.errorPage(w, http.StatusForbidden, "Sign-in not available", err.Error())
			return IdP{}, false
		}
		allowed = ids
	}
	t.mu.Lock()
	var offered []IdP
	for _, p := range t.idps.list {
		if allowed == nil || slices.Contains(allowed, p.ID) {
			offered = append(offered, p.clone())
		}
	}
	t.mu.Unlock()
	if hint := q.Get(ParamIdPHint); hint != "" && q.Get(ParamIdP) == "" {
		for _, p := range offered {
			if p.ID == hint {
				return p, true
			}
		}
	}
	if want := q.Get(ParamIdP); want != "" {
		for _, p := range offered {
			if p.ID == want {
				return p, true
			}
		}
		t.errorPage(w, http.StatusBadRequest, "Identity provider not available",
			"This sign-in cannot use the identity provider "+truncate(want, 80)+". It can use: "+labels(offered)+". Start again from your device client or the application.")
		return IdP{}, false
	}
	switch len(offered) {
	case 0:
		t.errorPage(w, http.StatusForbidden, "Sign-in not available", "No identity provider of the "+t.team+" organization may be used for this sign-in. Ask your administrator to check the allowed identity providers.")
		return IdP{}, false
	case 1:
		return offered[0], true
	}
	choices := make([]choice, len(offered))
	for i, p := range offered {
		u := *r.URL
		v := u.Query()
		v.Set(ParamIdP, p.ID)
		u.RawQuery = v.Encode()
		choices[i] = choice{Name: p.label(), URL: u.RequestURI()}
	}
	t.render(w, http.StatusOK, pageData{Title: "Choose how to sign in", Message: "Sign in to the " + t.team + " organization with:", Choices: choices})
	return IdP{}, false
}

// choice is one identity provider on the chooser page.
type choice struct {
	Name string
	URL  string // same-origin: this request with idp set
}

func labels(ps []IdP) string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.label()
	}
	return strings.Join(out, ", ")
}
