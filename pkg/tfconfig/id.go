package tfconfig

import (
	"crypto/sha256"
	"encoding/hex"
)

// SyntheticID returns the ID the simulator gives the resource typ.name in
// place of the one Cloudflare's API would assign: a UUID (version 8, the
// RFC 9562 layout for application-defined UUIDs) made of the first 16 bytes
// of sha256("typ.name"). It is stable across loads, machines and releases,
// so list references ($ID), audit logs and device state keep meaning the same
// resource as long as its Terraform address does not change.
func SyntheticID(typ, name string) string {
	sum := sha256.Sum256([]byte(typ + "." + name))
	b := sum[:16]
	b[6] = b[6]&0x0f | 0x80 // version 8
	b[8] = b[8]&0x3f | 0x80 // RFC 9562 variant
	var out [36]byte
	hex.Encode(out[0:8], b[0:4])
	out[8] = '-'
	hex.Encode(out[9:13], b[4:6])
	out[13] = '-'
	hex.Encode(out[14:18], b[6:8])
	out[18] = '-'
	hex.Encode(out[19:23], b[8:10])
	out[23] = '-'
	hex.Encode(out[24:], b[10:16])
	return string(out[:])
}
