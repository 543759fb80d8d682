package agent

import (
	"crypto/sha256"
	"encoding/base64"

	"github.com/ztagent/ztagent/internal/secret"
	"github.com/ztagent/ztagent/internal/wgkey"
)

// newWireGuardKey returns a new WireGuard private key, in the form the
// registration record keeps (base64 as wg(8) writes it, a secret), and its
// public key in base64, as the control API takes it. wgkey registers the
// hex form the tunnel's UAPI carries with the scrubber too.
func newWireGuardKey() (secret.Value, string, error) {
	k, err := wgkey.Generate()
	if err != nil {
		return secret.Value{}, "", err
	}
	return k.Secret(), k.Public().String(), nil
}

// pkceChallenge returns the S256 code challenge of a verifier (RFC 7636).
func pkceChallenge(verifier string) string {
	sum := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}
