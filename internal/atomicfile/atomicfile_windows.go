package atomicfile

import (
	"io/fs"

	"golang.org/x/sys/windows"
)

// writeFile renames with MoveFileEx: REPLACE_EXISTING makes the rename
// replace the target in one step, WRITE_THROUGH returns only once the
// rename is on disk (the directory sync renameio does on unix).
func writeFile(path string, data []byte, perm fs.FileMode) error {
	return viaRename(path, data, perm, moveFileEx)
}

func moveFileEx(from, to string) error {
	f, err := windows.UTF16PtrFromString(from)
	if err != nil {
		return err
	}
	t, err := windows.UTF16PtrFromString(to)
	if err != nil {
		return err
	}
	return windows.MoveFileEx(f, t, windows.MOVEFILE_REPLACE_EXISTING|windows.MOVEFILE_WRITE_THROUGH)
}
