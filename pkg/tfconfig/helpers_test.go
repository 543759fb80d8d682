package tfconfig

import (
	"testing"
	"testing/fstest"
)

// loadString loads one main.tf held in memory, named t/main.tf.
func loadString(t *testing.T, src string) (*Config, Diagnostics) {
	t.Helper()
	return load(fstest.MapFS{"main.tf": {Data: []byte(src)}}, "t")
}
