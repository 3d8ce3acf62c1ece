package xmpptest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// OpenFilesUnder lists the files under dir that this process holds open,
// from /proc/self/fd; ok is false where there is no /proc.
func OpenFilesUnder(dir string) (open []string, ok bool) {
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return nil, false
	}
	prefix := filepath.Clean(dir) + string(filepath.Separator)
	for _, fd := range fds {
		target, err := os.Readlink(filepath.Join("/proc/self/fd", fd.Name()))
		if err == nil && strings.HasPrefix(target, prefix) {
			open = append(open, target)
		}
	}
	return open, true
}

// checkDataDirClosed fails t when a file in the data directory is still
// open after the server's Shutdown returned: whatever holds it may still
// write there (SQLite creates and removes its -wal and -shm files as its
// last connection closes), racing the removal of the test's directory
// ("TempDir RemoveAll cleanup: directory not empty") or the next server
// on the same directory.
func checkDataDirClosed(t testing.TB, dir string) {
	t.Helper()
	if open, _ := OpenFilesUnder(dir); len(open) > 0 {
		t.Errorf("files in the data directory still open after Shutdown returned: %v", open)
	}
}
