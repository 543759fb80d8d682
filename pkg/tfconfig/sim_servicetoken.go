package tfconfig

import (
	"github.com/hashicorp/hcl/v2"

	"github.com/ztagent/ztagent/internal/secret"
)

// SimServiceToken is a service_token "<label>" block of the simulator
// file: the credentials of the Terraform service token with that label,
// for tests and demos that must know them before edged starts. Tokens the
// file does not give are minted by the simulator.
type SimServiceToken struct {
	Label        string
	ClientID     string
	ClientSecret secret.Value
	Pos          Pos
}

// MinServiceTokenSecret is the shortest client secret the simulator file
// may give: Cloudflare's are 64 hex digits, and a short one is guessable.
const MinServiceTokenSecret = 32

var simServiceTokenSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{{Name: "client_id", Required: true}, {Name: "client_secret", Required: true}},
}

// simServiceToken reads service_token "<label>" { client_id, client_secret }.
func (l *loader) simServiceToken(s *Sim, b *hcl.Block) {
	c := l.content(b.Body, simServiceTokenSchema)
	t := &SimServiceToken{Label: b.Labels[0], Pos: posOf(b.LabelRanges[0])}
	for _, prev := range s.ServiceTokens {
		if prev.Label == t.Label {
			l.d.errorf(b.LabelRanges[0], "service_token %q is given twice (first at %s); keep one", t.Label, prev.Pos)
			return
		}
	}
	if a := c.Attributes["client_id"]; a != nil {
		if v, ok := l.attrField(a, "client_id").str(); ok {
			if v == "" || len(v) > 256 {
				l.d.errorf(a.Expr.Range(), "client_id must be 1 to 256 characters, such as \"88bf3b6d86161464f6509f7219099e57.access\"")
			}
			t.ClientID = v
		}
	}
	if a := c.Attributes["client_secret"]; a != nil {
		if v, ok := l.attrField(a, "client_secret").str(); ok {
			if len(v) < MinServiceTokenSecret {
				l.d.errorf(a.Expr.Range(), "client_secret has %d characters; give at least %d (Cloudflare's are 64 hex digits), or leave the block out to have one minted", len(v), MinServiceTokenSecret)
			}
			t.ClientSecret = secret.New(v)
		}
	}
	s.ServiceTokens = append(s.ServiceTokens, t)
}

// linkServiceTokens checks that every service_token block names a token
// the Terraform declares, and that no two share a client ID.
func linkServiceTokens(cfg *Config, sim *Sim, d *diags) {
	labels := make([]string, 0, len(cfg.ServiceTokens))
	for _, t := range cfg.ServiceTokens {
		labels = append(labels, t.Label)
	}
	ids := map[string]*SimServiceToken{}
	for _, st := range sim.ServiceTokens {
		found := false
		for _, t := range cfg.ServiceTokens {
			found = found || t.Label == st.Label
		}
		if !found {
			d.at(Error, st.Pos, "service_token %q names no %s declared in %s%s", st.Label, TypeServiceToken, cfg.Dir, suggest(st.Label, labels))
		}
		if prev := ids[st.ClientID]; prev != nil && st.ClientID != "" {
			d.at(Error, st.Pos, "service_token %q has the client_id of service_token %q (%s); every token needs its own", st.Label, prev.Label, prev.Pos)
		}
		ids[st.ClientID] = st
	}
}

// ServiceTokenCredentials returns the credentials the simulator file gives
// the service token labelled label, or nil.
func (s *Sim) ServiceTokenCredentials(label string) *SimServiceToken {
	for _, t := range s.ServiceTokens {
		if t.Label == label {
			return t
		}
	}
	return nil
}
