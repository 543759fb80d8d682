package accessgate

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/ztagent/ztagent/internal/randtoken"
)

// Token kinds: an assertion is what the origin receives on each request; a
// session is the application's CF_Authorization cookie. They are told
// apart so that an assertion an origin leaked cannot be replayed as a
// cookie (which the gate would otherwise accept until its exp).
const (
	kindAssertion = "assertion"
	kindSession   = "session"
)

// Claims are the claims of the gate's tokens: Cf-Access-Jwt-Assertion and
// the CF_Authorization cookie.
type Claims struct {
	jwt.Claims
	Email    string   `json:"email"`
	Name     string   `json:"name,omitempty"`
	Groups   []string `json:"groups"`
	AuthTime int64    `json:"auth_time"`
	// Kind is "assertion" or "session".
	Kind string `json:"kind"`
	// Via says how the request was authenticated: "device" (S9) or
	// "login" (an Access login through the team domain).
	Via string `json:"via"`
}

// tokens signs and verifies the gate's JWTs with one ES256 key.
type tokens struct {
	signer jose.Signer
	pub    *ecdsa.PublicKey
	kid    string
	issuer string
}

func newTokens(key *ecdsa.PrivateKey, issuer string) (*tokens, error) {
	if key.Curve.Params().Name != "P-256" {
		return nil, errors.New("accessgate: the signing key must be an ECDSA P-256 key")
	}
	pub, err := (&jose.JSONWebKey{Key: &key.PublicKey}).Thumbprint(crypto.SHA256)
	if err != nil {
		return nil, err
	}
	kid := hex.EncodeToString(pub[:8])
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: jose.JSONWebKey{Key: key, KeyID: kid}},
		(&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		return nil, err
	}
	return &tokens{signer: s, pub: &key.PublicKey, kid: kid, issuer: issuer}, nil
}

// subject is a stable user ID derived from the e-mail: the simulated IdP's
// subject is not carried through the device registry, and origins only
// need something stable.
func subject(email string) string {
	sum := sha256.Sum256([]byte(strings.ToLower(email)))
	return hex.EncodeToString(sum[:16])
}

func (t *tokens) issue(kind, via, aud string, id *Identity, now, exp time.Time) (string, error) {
	c := Claims{
		Claims: jwt.Claims{
			Issuer: t.issuer, Subject: subject(id.Email), Audience: jwt.Audience{aud},
			IssuedAt: jwt.NewNumericDate(now), NotBefore: jwt.NewNumericDate(now), Expiry: jwt.NewNumericDate(exp),
		},
		Email: id.Email, Name: id.Name, Groups: slices.Clone(id.Groups), AuthTime: id.AuthTime.Unix(),
		Kind: kind, Via: via,
	}
	if kind == kindSessionOnce {
		c.ID = randtoken.New(16)
	}
	if c.Groups == nil {
		c.Groups = []string{}
	}
	return jwt.Signed(t.signer).Claims(c).Serialize()
}

// errToken is any token the gate does not accept; why is in the log only.
var errToken = errors.New("accessgate: token not accepted")

func (t *tokens) verify(raw, kind, aud string, now time.Time) (*Claims, error) {
	tok, err := jwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.ES256})
	if err != nil {
		return nil, errToken
	}
	var c Claims
	if err := tok.Claims(t.pub, &c); err != nil {
		return nil, errToken
	}
	if c.Kind != kind || c.Email == "" || c.Expiry == nil || !now.Before(c.Expiry.Time()) {
		return nil, errToken
	}
	if err := c.ValidateWithLeeway(jwt.Expected{Issuer: t.issuer, AnyAudience: jwt.Audience{aud}, Time: now}, 0); err != nil {
		return nil, errToken
	}
	return &c, nil
}

func (c *Claims) identity() *Identity {
	return &Identity{Email: c.Email, Name: c.Name, Groups: c.Groups, AuthTime: time.Unix(c.AuthTime, 0).UTC()}
}
