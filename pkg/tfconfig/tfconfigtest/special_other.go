//go:build !unix

package tfconfigtest

import "errors"

// Supported reports whether the system can make c: named pipes and
// /dev/urandom are unix's.
func Supported(c Case) bool { return c.Special == "" }

func makeSpecial(string, string) error {
	return errors.New("tfconfigtest: special files need unix")
}
