//go:build !unix && !windows

package anaplan

import (
	"context"
	"io/fs"
	"os"
)

// checkSettingsDirMode accepts any mode: on these systems
// (Plan 9, js, wasip1) permissions are left to the system, unchecked.
func checkSettingsDirMode(dir string, fi fs.FileInfo) error {
	return nil
}

// checkSettingsFileMode accepts any mode: see checkSettingsDirMode.
func checkSettingsFileMode(string, fs.FileInfo) error { return nil }

// syncSettingsDir is a no-op: directories cannot be synced portably here.
func syncSettingsDir(string) error { return nil }

// lockSettingsFile creates the lock file but takes no cross-process lock on this
// system: FileStore.Lock then excludes only users of the path within this
// process (its in-process lock is taken before lockSettingsFile is called).
func lockSettingsFile(_ context.Context, path string) (release func(), err error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	return func() { f.Close() }, nil
}

// settingsLockCrossProcess reports whether lockSettingsFile excludes other processes.
const settingsLockCrossProcess = false

// isNoSpace cannot tell a full file system apart here.
func isNoSpace(error) bool { return false }

// isReadOnly cannot tell a read-only file system apart here.
func isReadOnly(error) bool { return false }

// checkSettingsOwner accepts any owner here: access is left to the system.
func checkSettingsOwner(string, string, fs.FileInfo) error { return nil }

// checkSettingsLink accepts any link here: see checkSettingsOwner.
func checkSettingsLink(string, fs.FileInfo) error { return nil }
