//go:build unix

package atomicfile

import (
	"io/fs"

	"github.com/google/renameio/v2"
)

func writeFile(path string, data []byte, perm fs.FileMode) error {
	return renameio.WriteFile(path, data, perm)
}
