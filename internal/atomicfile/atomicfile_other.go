//go:build !unix && !windows

package atomicfile

import (
	"io/fs"
	"os"
)

func writeFile(path string, data []byte, perm fs.FileMode) error {
	return viaRename(path, data, perm, os.Rename)
}
