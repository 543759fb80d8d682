// Package randtoken makes random tokens: state and nonce parameters, IDs
// that must not be guessed, bearer tokens.
package randtoken

import (
	"crypto/rand"
	"encoding/base64"
)

// New returns nBytes random bytes from crypto/rand, in URL-safe base64
// without padding (RFC 4648 §5), so the token fits a URL, a header or a
// file name as it is. 32 bytes make a 43-character token.
func New(nBytes int) string {
	b := make([]byte, nBytes)
	_, _ = rand.Read(b) // crypto/rand.Read never returns an error
	return base64.RawURLEncoding.EncodeToString(b)
}
