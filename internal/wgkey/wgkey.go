// Package wgkey holds WireGuard keys as types: a private key that cannot be
// printed, logged or marshalled by accident, and a fixed-size public key
// that prints as wg(8) does. It is the one place the module parses or
// generates WireGuard keys.
package wgkey

import (
	"crypto/ecdh"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/ztagent/ztagent/internal/secret"
)

// Len is the length of a WireGuard key in bytes.
const Len = 32

// Private is a WireGuard (Curve25519) private key. Its String, Format,
// GoString and MarshalText print secret.Redacted, never the key; Secret and
// UAPIHex are the only ways to write it out. The zero Private is no key.
//
// The key sits behind a function so that fmt, reflecting into an
// unexported field that holds a Private, finds only a code address: a
// pointer there would print the bytes (fmt shows %s of a pointer as
// &{...}). A func field also makes Private not comparable: use Equal, which
// takes constant time.
type Private struct {
	get func() *pair
}

type pair struct {
	priv [Len]byte
	pub  Public
}

// Generate returns a new private key.
func Generate() (Private, error) {
	k, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		return Private{}, fmt.Errorf("generate a WireGuard key: %w", err)
	}
	return fromECDH(k), nil
}

// ParsePrivate parses a private key written in base64, as "wg genkey"
// prints it and as the keyring record and the edge's key file keep it. The
// error never quotes the text: it is, or was meant to be, a secret.
func ParsePrivate(v secret.Value) (Private, error) {
	if v.IsZero() {
		return Private{}, errors.New("the WireGuard private key is empty")
	}
	b, err := base64.StdEncoding.DecodeString(v.Reveal())
	if err != nil || len(b) != Len {
		return Private{}, errors.New("the WireGuard private key is not 44 characters of base64 as \"wg genkey\" prints (its text is secret, so it is not shown)")
	}
	k, err := ecdh.X25519().NewPrivateKey(b)
	if err != nil {
		return Private{}, fmt.Errorf("the WireGuard private key is unusable: %w", err)
	}
	v.AlsoScrub(v.Reveal()) // v may come from secret.Wrap, which registers nothing
	return fromECDH(k), nil
}

// fromECDH makes a Private of k and registers its base64 and hex forms with
// the scrubber, so that a log line that somehow holds them is redacted.
func fromECDH(k *ecdh.PrivateKey) Private {
	p := new(pair)
	copy(p.priv[:], k.Bytes())
	copy(p.pub[:], k.PublicKey().Bytes())
	secret.New(base64.StdEncoding.EncodeToString(p.priv[:])).AlsoScrub(hex.EncodeToString(p.priv[:]))
	return Private{get: func() *pair { return p }}
}

// pair returns k's key pair, or nil for the zero key.
func (k Private) pair() *pair {
	if k.get == nil {
		return nil
	}
	return k.get()
}

// IsZero reports whether k is no key.
func (k Private) IsZero() bool { return k.get == nil }

// Equal reports whether k and o are the same key, in constant time.
func (k Private) Equal(o Private) bool {
	a, b := k.pair(), o.pair()
	if a == nil || b == nil {
		return a == b
	}
	return subtle.ConstantTimeCompare(a.priv[:], b.priv[:]) == 1
}

// Public returns the public key of k. It panics if k is zero.
func (k Private) Public() Public {
	p := k.pair()
	if p == nil {
		panic("wgkey: Public of a zero Private")
	}
	return p.pub
}

// Secret returns the key in base64, as wg(8) writes it: the form the
// keyring record and the edge's key file store. It panics if k is zero.
func (k Private) Secret() secret.Value {
	p := k.pair()
	if p == nil {
		panic("wgkey: Secret of a zero Private")
	}
	return secret.New(base64.StdEncoding.EncodeToString(p.priv[:]))
}

// UAPIHex returns the key in hex, as the private_key= line of wireguard-go's
// UAPI carries it. Write it into that text and nowhere else. It panics if k
// is zero.
func (k Private) UAPIHex() string {
	p := k.pair()
	if p == nil {
		panic("wgkey: UAPIHex of a zero Private")
	}
	return hex.EncodeToString(p.priv[:])
}

// String returns secret.Redacted, or "" for the zero key.
func (k Private) String() string {
	if k.IsZero() {
		return ""
	}
	return secret.Redacted
}

// Format prints String for every verb, so %x, %v and %#v show no key bytes.
func (k Private) Format(f fmt.State, verb rune) {
	if verb == 'v' && f.Flag('#') {
		_, _ = fmt.Fprint(f, k.GoString())
		return
	}
	_, _ = fmt.Fprint(f, k.String())
}

// GoString returns a redacted Go form.
func (k Private) GoString() string { return "wgkey.Private(" + k.String() + ")" }

// MarshalText returns String, so that JSON and other text encodings carry
// secret.Redacted. There is no UnmarshalText: parse with ParsePrivate.
func (k Private) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

// IsSecret marks k as a secret.Marker, which logging.Guard redacts.
func (Private) IsSecret() {}

// Public is a WireGuard public key. Its text form, in String and in JSON,
// is base64 as wg(8) prints it.
type Public [Len]byte

// ParsePublic parses a public key written in base64, as "wg pubkey" prints
// it. The error quotes s; callers say whose key it was.
func ParsePublic(s string) (Public, error) {
	var k Public
	b, err := base64.StdEncoding.DecodeString(s)
	switch {
	case err != nil:
		return k, fmt.Errorf("%q is not a base64 WireGuard key: want 44 characters of base64 (as printed by \"wg pubkey\")", s)
	case len(b) != Len:
		return k, fmt.Errorf("%q is not a base64 WireGuard key: it holds %d bytes, want %d: 44 characters of base64 (as printed by \"wg pubkey\")", s, len(b), Len)
	}
	copy(k[:], b)
	return k, nil
}

// String returns the key in base64, as wg(8) prints it.
func (k Public) String() string { return base64.StdEncoding.EncodeToString(k[:]) }

// UAPIHex returns the key in hex, as wireguard-go's UAPI writes keys.
func (k Public) UAPIHex() string { return hex.EncodeToString(k[:]) }

// IsZero reports whether k is the zero key.
func (k Public) IsZero() bool { return k == Public{} }

// MarshalText returns the key in base64, as wg(8) prints it.
func (k Public) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

// UnmarshalText parses a key in base64, as ParsePublic does.
func (k *Public) UnmarshalText(b []byte) error {
	p, err := ParsePublic(string(b))
	if err != nil {
		return err
	}
	*k = p
	return nil
}
