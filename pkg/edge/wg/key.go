package wg

import (
	"crypto/ecdh"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"

	"github.com/ztagent/ztagent/internal/secret"
)

// Key is a WireGuard public key.
type Key [32]byte

// ParseKey parses a public key written in base64, as wg(8) prints it.
func ParseKey(s string) (Key, error) {
	var k Key
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(b) != len(k) {
		return k, fmt.Errorf("%q is not a WireGuard key: want 44 characters of base64 (as printed by \"wg pubkey\")", s)
	}
	copy(k[:], b)
	return k, nil
}

// String returns the key in base64, as wg(8) prints it.
func (k Key) String() string { return base64.StdEncoding.EncodeToString(k[:]) }

// IsZero reports whether k is the zero key.
func (k Key) IsZero() bool { return k == Key{} }

// hex returns the key as the wireguard-go UAPI writes keys.
func (k Key) hex() string { return hex.EncodeToString(k[:]) }

// GeneratePrivateKey returns a new WireGuard private key in base64.
func GeneratePrivateKey() (secret.Value, error) {
	priv, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		return secret.Value{}, fmt.Errorf("generate WireGuard key: %w", err)
	}
	v := secret.New(base64.StdEncoding.EncodeToString(priv.Bytes()))
	v.AlsoScrub(hex.EncodeToString(priv.Bytes()))
	return v, nil
}

// PublicKeyOf returns the public key of a base64 private key.
func PublicKeyOf(private secret.Value) (Key, error) {
	priv, err := parsePrivate(private)
	if err != nil {
		return Key{}, err
	}
	var k Key
	copy(k[:], priv.PublicKey().Bytes())
	return k, nil
}

func parsePrivate(private secret.Value) (*ecdh.PrivateKey, error) {
	b, err := base64.StdEncoding.DecodeString(private.Reveal())
	if err != nil || len(b) != 32 {
		// Never echo the text: it is (or was meant to be) a secret.
		return nil, fmt.Errorf("the WireGuard private key is not 44 characters of base64; generate one with \"wg genkey\" or leave it empty")
	}
	priv, err := ecdh.X25519().NewPrivateKey(b)
	if err != nil {
		return nil, fmt.Errorf("the WireGuard private key is unusable: %w", err)
	}
	return priv, nil
}
