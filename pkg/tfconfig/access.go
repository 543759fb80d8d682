package tfconfig

import (
	"fmt"
	"slices"
	"strings"

	"github.com/ztagent/ztagent/internal/secret"
)

// idpTypes are the identity provider types of the provider v5 schema.
var idpTypes = []string{
	"onetimepin", "azureAD", "saml", "centrify", "facebook", "github", "google-apps", "google",
	"linkedin", "oidc", "okta", "onelogin", "pingone", "yandex", "cloudflare",
}

// azurePrompts are the values Entra ID accepts for config.prompt (S11).
var azurePrompts = []string{"login", "select_account", "none"}

// idpConfigIgnored are config keys of the v5 schema that the simulator does
// not use.
var idpConfigIgnored = []string{
	"apps_domain", "attributes", "authorization_server_id", "centrify_account", "centrify_app_id",
	"conditional_access_enabled", "email_attribute_name", "header_attributes", "identity_update_behavior",
	"idp_public_certs", "okta_account", "onelogin_account", "ping_env_id", "redirect_url",
	"sign_request", "sso_target_url",
}

func (l *loader) decodeIdentityProvider(res Resource, o *object) {
	idp := &IdentityProvider{Resource: res}
	o.ignore("scim_config")
	idp.Name, _ = o.required("name", `"Entra ID"`)
	typ, tf := o.required("type", `"azureAD"`)
	typeOK := tf != nil && typ != ""
	if typeOK {
		if typ, typeOK = tf.oneOf(typ, idpTypes, "identity provider type"); !typeOK {
			tf.errorf("identity provider type %q is not a Cloudflare type%s; use one of %s", typ, suggest(typ, idpTypes), strings.Join(idpTypes, ", "))
		}
	}
	idp.Type = typ
	if cf := o.get("config"); cf != nil {
		if c, ok := cf.object(); ok {
			l.decodeIdPConfig(idp, typeOK, c)
			c.finish()
		}
	}
	l.cfg.IdentityProviders = append(l.cfg.IdentityProviders, idp)
}

// decodeIdPConfig reads the config attribute; typeOK says the provider's
// type is a valid one, so that rules that depend on it may apply.
func (l *loader) decodeIdPConfig(idp *IdentityProvider, typeOK bool, c *object) {
	c.ignore(idpConfigIgnored...)
	cfg := &idp.Config
	cfg.ClientID = c.str("client_id")
	if s := c.str("client_secret"); s != "" {
		cfg.ClientSecret = secret.New(s)
	}
	cfg.DirectoryID = c.str("directory_id")
	cfg.AuthURL = c.str("auth_url")
	cfg.TokenURL = c.str("token_url")
	cfg.CertsURL = c.str("certs_url")
	cfg.IssuerURL = c.str("issuer_url")
	cfg.EmailClaimName = c.str("email_claim_name")
	cfg.PKCEEnabled, _ = c.boolean("pkce_enabled")
	cfg.SupportGroups, _ = c.boolean("support_groups")
	if f := c.get("scopes"); f != nil {
		cfg.Scopes, _ = f.strings()
	}
	if f := c.get("claims"); f != nil {
		cfg.Claims, _ = f.strings()
	}
	if pf := c.get("prompt"); pf != nil {
		prompt, ok := pf.str()
		switch {
		case !ok:
		case !typeOK:
			// The type is wrong or missing (reported); whether prompt
			// belongs depends on what it should have been.
		case idp.Type != IdPAzureAD:
			l.d.errorf(pf.keyRng, "config.prompt is only supported for azureAD identity providers, and %s is type %q; remove prompt", idp.Address(), idp.Type)
		default:
			if canon, ok := pf.oneOf(prompt, azurePrompts, "config.prompt"); ok {
				cfg.Prompt = canon
			} else {
				pf.errorf("config.prompt %q is not an Entra ID prompt%s; use \"login\" (always ask for credentials), \"select_account\" or \"none\"", prompt, suggest(prompt, azurePrompts))
			}
		}
	}
}

// appTypes are the application types of the provider v5 schema.
var appTypes = []string{
	"self_hosted", "saas", "ssh", "vnc", "app_launcher", "warp", "biso", "bookmark", "dash_sso",
	"infrastructure", "rdp", "mcp", "mcp_portal", "proxy_endpoint",
}

// deviceIdentityTypes are the application types on which
// allow_authenticate_via_warp and enable_binding_cookie mean something:
// applications Access serves at a hostname, where it sets its own cookies.
// ssh, vnc and rdp are browser-rendered self-hosted applications and
// behave the same way.
var deviceIdentityTypes = []string{"self_hosted", "ssh", "vnc", "rdp"}

// appTypesFor lists, per attribute, the application types the provider
// v5.22 accepts it on (its RequiresOtherStringAttributeToBeOneOf
// validators): WARP authentication also on SaaS and dashboard SSO
// applications, the binding cookie also on MCP portals.
var appTypesFor = map[string][]string{
	"allow_authenticate_via_warp": {"self_hosted", "ssh", "vnc", "rdp", "saas", "dash_sso"},
	"enable_binding_cookie":       {"self_hosted", "ssh", "vnc", "rdp", "mcp_portal"},
}

// appIgnored are application attributes of the v5 schema that the
// simulator does not use.
var appIgnored = []string{
	"allow_iframe", "app_launcher_logo_url", "app_launcher_visible", "auto_redirect_to_identity",
	"bg_color", "cors_headers", "custom_deny_message", "custom_deny_url", "custom_non_identity_deny_url",
	"custom_pages", "footer_links", "header_bg_color", "http_only_cookie_attribute",
	"landing_page_design", "logo_url", "options_preflight_bypass", "path_cookie_attribute",
	"read_service_tokens_from_header", "saas_app", "same_site_cookie_attribute", "scim_config",
	"self_hosted_domains", "service_auth_401_redirect", "skip_app_launcher_login_page",
	"skip_interstitial", "tags", "target_criteria",
}

// appMeta keeps where an application's checked attributes were written.
type appMeta struct {
	app       *AccessApplication
	warpField *field
	idps      []*field // each allowed_idps entry, by index in app.AllowedIdPs
	refs      []*field // the id of each referenced policy, by index in app.Policies; nil for inline ones
}

func (l *loader) decodeAccessApplication(res Resource, o *object) {
	app := &AccessApplication{Resource: res}
	m := &appMeta{app: app}
	o.ignore(appIgnored...)
	app.Name, _ = o.required("name", `"Wiki"`)
	app.Type = "self_hosted"
	typeOK := true
	if tf := o.get("type"); tf != nil {
		t, ok := tf.str()
		typeOK = ok
		if ok {
			t, ok = tf.oneOf(t, appTypes, "application type")
			app.Type = t
			if !ok {
				tf.errorf("application type %q is not a Cloudflare type%s; use one of %s", t, suggest(t, appTypes), strings.Join(appTypes, ", "))
				typeOK = false
			}
		}
	}
	app.Domain = o.str("domain")
	if df := o.get("destinations"); df != nil {
		app.Destinations = l.decodeDestinations(df)
		if app.Domain == "" && len(app.Destinations) > 0 {
			app.Domain = app.Destinations[0]
		}
	}
	if app.Domain == "" && slices.Contains(deviceIdentityTypes, app.Type) {
		l.d.warnf(o.rng, "%s has no domain, so the simulator cannot route requests to it; add domain = \"wiki.acme.internal\"", res.Address())
	}
	if f := o.get("session_duration"); f != nil {
		app.SessionDuration, app.SessionExpiresImmediately, _ = f.accessSessionDuration()
	}
	for _, name := range []string{"allow_authenticate_via_warp", "enable_binding_cookie"} {
		f := o.get(name)
		if f == nil {
			continue
		}
		v, ok := f.boolean()
		if !ok || !typeOK {
			continue
		}
		if types := appTypesFor[name]; !slices.Contains(types, app.Type) {
			l.d.errorf(f.keyRng, "%s is only supported on %s applications, and %s is type %q; remove it", name, strings.Join(types, ", "), res.Address(), app.Type)
			continue
		}
		if !slices.Contains(deviceIdentityTypes, app.Type) {
			// Valid for the provider, but the simulator serves only
			// applications at a hostname.
			l.d.warnf(f.keyRng, "%s on a %s application is accepted but not simulated: the simulator serves only applications at a hostname (%s)", name, app.Type, strings.Join(deviceIdentityTypes, ", "))
			continue
		}
		if name == "enable_binding_cookie" {
			app.EnableBindingCookie = v
		} else {
			app.AllowAuthenticateViaWARP = &v
			m.warpField = f
		}
	}
	if pf := o.get("policies"); pf != nil {
		l.decodeAppPolicies(m, pf)
	}
	if f := o.get("allowed_idps"); f != nil {
		elems, _ := f.list()
		for _, e := range elems {
			if id, ok := e.str(); ok {
				m.app.AllowedIdPs = append(m.app.AllowedIdPs, id)
				m.idps = append(m.idps, e)
			}
		}
	}
	l.cfg.AccessApplications = append(l.cfg.AccessApplications, app)
	l.apps = append(l.apps, m)
}

// destinationTypes are the types of an application destination in the
// provider v5.22 schema.
var destinationTypes = []string{"public", "private", "via_mcp_server_portal"}

// decodeDestinations returns the hostnames (and paths) of an application's
// public destinations. Private ones (a CIDR or a private hostname, reached
// through the tunnel) are loaded and not simulated, with a warning.
func (l *loader) decodeDestinations(df *field) []string {
	elems, _ := df.list()
	var out []string
	for _, e := range elems {
		d, ok := e.object()
		if !ok {
			continue
		}
		typ := "public"
		if tf := d.get("type"); tf != nil {
			if s, ok := tf.str(); ok {
				if typ, ok = tf.oneOf(s, destinationTypes, "destination type"); !ok {
					tf.errorf("destination type %q is not a Cloudflare destination type%s; use one of %s", s, suggest(s, destinationTypes), strings.Join(destinationTypes, ", "))
					continue
				}
			}
		}
		d.ignore("cidr", "hostname", "l4_protocol", "port_range", "vnet_id", "mcp_server_id")
		switch uri := d.str("uri"); {
		case typ == "public" && uri != "":
			out = append(out, uri)
		case typ != "public":
			l.d.warnf(e.rng, "%s destinations are not simulated: the simulator serves an application at its public hostnames only", typ)
		}
		d.finish()
	}
	return out
}

// decodeAppPolicies reads references ({id, precedence} or a plain ID) and
// inline policies; references are resolved by check once every policy is
// loaded.
func (l *loader) decodeAppPolicies(m *appMeta, pf *field) {
	elems, _ := pf.list()
	for i, e := range elems {
		if !e.isObject() {
			if id, ok := e.str(); ok {
				m.app.Policies = append(m.app.Policies, AppPolicy{ID: id})
				m.refs = append(m.refs, e)
			}
			continue
		}
		o, ok := e.object()
		if !ok {
			continue
		}
		var ap AppPolicy
		if f := o.get("precedence"); f != nil {
			ap.Precedence, _ = f.integer()
		}
		if idf := o.get("id"); idf != nil {
			ap.ID, _ = idf.str()
			o.finish()
			m.app.Policies = append(m.app.Policies, ap)
			m.refs = append(m.refs, idf)
			continue
		}
		label := fmt.Sprintf("%s.policies[%d]", m.app.Label, i)
		res := Resource{Type: TypeAccessPolicy, Label: label, ID: SyntheticID(TypeAccessPolicy, label), Pos: posOf(e.rng)}
		o.desc = "the inline policy " + res.Label
		ap.Policy = l.decodeAccessPolicy(res, o)
		o.finish()
		m.app.Policies = append(m.app.Policies, ap)
		m.refs = append(m.refs, nil)
	}
}

// accessDecisions are the decisions of an Access policy.
var accessDecisions = []string{"allow", "deny", "non_identity", "bypass"}

// accessSelectors maps each include/exclude/require selector of the v5
// schema to the key holding its main value ("" for valueless ones).
var accessSelectors = map[string]string{
	"email": "email", "email_domain": "domain", "everyone": "", "group": "id", "azure_ad": "id",
	"okta": "name", "gsuite": "email", "github_organization": "name", "saml": "attribute_value",
	"oidc": "claim_value", "email_list": "id", "ip": "ip", "ip_list": "id", "geo": "country_code",
	"login_method": "id", "device_posture": "integration_uid", "service_token": "token_id",
	"any_valid_service_token": "", "certificate": "", "common_name": "common_name",
	"auth_method": "auth_method", "external_evaluation": "evaluate_url", "auth_context": "id",
	"linked_app_token": "app_uid",
}

// simulatedSelectors are the selectors the simulator can match: against
// the users who sign in, email, domain, IdP groups and everyone; against
// a device enrolled with a service token, its token. group and
// login_method are not among them: in provider v5, group = { id } is the ID
// of an Access group (cloudflare_zero_trust_access_group, which the
// simulator does not load) and login_method = { id } the ID of an identity
// provider, not names of IdP groups.
var simulatedSelectors = []string{"email", "email_domain", "everyone", "azure_ad", "okta", "gsuite",
	"service_token", "any_valid_service_token"}

// unsimulatedSelectors explains, for selectors that look simulated but are
// not, what they match in Cloudflare.
var unsimulatedSelectors = map[string]string{
	"group":        "it matches members of an Access group (its id is a cloudflare_zero_trust_access_group ID, not an IdP group name), and the simulator does not load Access groups; to match IdP groups write azure_ad = { id = \"GROUP\", identity_provider_id = ... } (or okta, gsuite), or match users by email",
	"login_method": "it matches users who logged in with the identity provider whose ID it holds, and the simulator does not evaluate login methods",
}

var accessPolicyIgnored = []string{
	"approval_groups", "approval_required", "isolation_required", "purpose_justification_prompt",
	"purpose_justification_required", "connection_rules", "mfa_config",
}

// decodeAccessPolicy reads a policy resource or an inline policy of an
// application.
func (l *loader) decodeAccessPolicy(res Resource, o *object) *AccessPolicy {
	p := &AccessPolicy{Resource: res}
	o.ignore(accessPolicyIgnored...)
	p.Name, _ = o.required("name", `"Employees"`)
	decision, df := o.required("decision", `"allow"`)
	ok := true
	if df != nil && decision != "" {
		decision, ok = df.oneOf(decision, accessDecisions, "decision")
	}
	p.Decision = decision
	if !ok {
		df.errorf("decision %q is not an Access decision%s; use one of %s", decision, suggest(decision, accessDecisions), strings.Join(accessDecisions, ", "))
	}
	if f := o.get("session_duration"); f != nil {
		p.SessionDuration, p.SessionExpiresImmediately, _ = f.accessSessionDuration()
	}
	if f := o.get("include"); f != nil {
		p.Include = l.decodeAccessRules(f)
		if elems, ok := f.list(); ok && len(elems) == 0 {
			l.d.errorf(f.rng, `include is empty, so the policy matches no one; add a selector such as { email_domain = { domain = "example.com" } }`)
		}
	} else if !o.hasBlock("include") { // a v4 include block is reported by finish
		l.d.errorf(o.rng, `%s has no include; add include = [{ email_domain = { domain = "example.com" } }]`, o.desc)
	}
	if f := o.get("exclude"); f != nil {
		p.Exclude = l.decodeAccessRules(f)
	}
	if f := o.get("require"); f != nil {
		p.Require = l.decodeAccessRules(f)
	}
	if p.Decision == "allow" || p.Decision == "deny" {
		for _, r := range p.Include {
			if r.Kind == "service_token" || r.Kind == "any_valid_service_token" {
				l.d.at(Warning, res.Pos, "%s includes a service token, but its decision is %q, which never admits one: Access checks service tokens only in Service Auth policies; write decision = \"non_identity\"", o.desc, p.Decision)
				break
			}
		}
	}
	return p
}

func (l *loader) decodeAccessRules(f *field) []AccessRule {
	elems, _ := f.list()
	var out []AccessRule
	for _, e := range elems {
		o, ok := e.object()
		if !ok {
			continue
		}
		if len(o.order) != 1 {
			l.d.errorf(e.rng, `each entry of %s holds exactly one selector, such as { email = { email = "alice@example.com" } }; split this one (it has %d)`, f.path, len(o.order))
		}
		for _, kf := range o.order {
			kind := strings.TrimPrefix(kf.path, e.path+".")
			valueKey, known := accessSelectors[kind]
			if !known {
				l.d.warnf(kf.keyRng, "%s is not an Access selector the simulator knows; it is ignored", kind)
				continue
			}
			r := AccessRule{Kind: kind}
			inner, ok := kf.object()
			if !ok {
				continue
			}
			if valueKey != "" {
				vf := inner.get(valueKey)
				if vf == nil {
					l.d.errorf(kf.keyRng, "the %s selector has no %s; write { %s = { %s = \"...\" } }", kind, valueKey, kind, valueKey)
					continue
				}
				r.Value, _ = vf.str()
				if kind == "service_token" && r.Value != "" {
					l.tokenRefs = append(l.tokenRefs, tokenRef{id: r.Value, rng: vf.rng})
				}
			}
			r.IdentityProviderID = inner.str("identity_provider_id")
			if why := unsimulatedSelectors[kind]; why != "" {
				l.d.warnf(kf.keyRng, "the %s selector is not simulated, so the simulator never matches it: %s", kind, why)
			} else if !slices.Contains(simulatedSelectors, kind) {
				l.d.warnf(kf.keyRng, "the %s selector is not simulated: the simulator never matches it", kind)
			}
			out = append(out, r)
		}
	}
	return out
}
