package agent

import (
	"crypto/ecdh"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"

	"github.com/ztagent/ztagent/internal/secret"
)

// newWireGuardKey returns a new Curve25519 private key (base64, as wg(8)
// writes it, and a secret) and its public key. The hex form the tunnel's
// UAPI carries is registered with the scrubber too.
func newWireGuardKey() (secret.Value, string, error) {
	priv, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		return secret.Value{}, "", fmt.Errorf("generate the WireGuard key: %w", err)
	}
	v := secret.New(base64.StdEncoding.EncodeToString(priv.Bytes()))
	v.AlsoScrub(hex.EncodeToString(priv.Bytes()))
	return v, base64.StdEncoding.EncodeToString(priv.PublicKey().Bytes()), nil
}

// randomToken returns n random bytes, base64url without padding.
func randomToken(n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// pkceChallenge returns the S256 code challenge of a verifier (RFC 7636).
func pkceChallenge(verifier string) string {
	sum := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}
