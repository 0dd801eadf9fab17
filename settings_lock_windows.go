//go:build windows

package anaplan

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"golang.org/x/sys/windows"
)

// checkSettingsDirMode accepts any mode. Unix permission bits mean
// nothing on Windows (it reports 0777 for every writable directory), so
// access control is left to the directory's ACLs.
func checkSettingsDirMode(dir string, fi fs.FileInfo) error {
	return nil
}

// checkSettingsFileMode accepts any mode: see checkSettingsDirMode.
func checkSettingsFileMode(string, fs.FileInfo) error { return nil }

// syncSettingsDir is a no-op: Windows cannot flush a directory handle.
func syncSettingsDir(string) error { return nil }

// lockAllBytes is the length (low and high halves) of the byte range
// lockSettingsFile locks: the whole file, however long it grows.
const lockAllBytes = ^uint32(0)

// lockSettingsFile takes an exclusive LockFileEx lock on path (created when
// missing), waiting under ctx. The lock belongs to the file handle, so two
// lockSettingsFile calls in one process exclude each other as two processes
// do. Windows releases the lock when the process exits, so a crash leaves no
// stale lock.
func lockSettingsFile(ctx context.Context, path string) (release func(), err error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, err
	}
	try := func() error {
		var lerr error
		if err := rc.Control(func(fd uintptr) {
			lerr = windows.LockFileEx(windows.Handle(fd),
				windows.LOCKFILE_EXCLUSIVE_LOCK|windows.LOCKFILE_FAIL_IMMEDIATELY,
				0, lockAllBytes, lockAllBytes, new(windows.Overlapped))
		}); err != nil {
			return err
		}
		return lerr
	}
	if err := pollLock(ctx, try, func(err error) bool { return !errors.Is(err, windows.ERROR_LOCK_VIOLATION) }); err != nil {
		f.Close()
		if ctx.Err() != nil {
			return nil, err
		}
		return nil, fmt.Errorf("LockFileEx: %w", err)
	}
	return func() {
		_ = rc.Control(func(fd uintptr) {
			_ = windows.UnlockFileEx(windows.Handle(fd), 0, lockAllBytes, lockAllBytes, new(windows.Overlapped))
		})
		f.Close() // also releases the lock, though not necessarily at once
	}, nil
}

// settingsLockCrossProcess reports whether lockSettingsFile excludes other processes.
const settingsLockCrossProcess = true

// isNoSpace reports a full disk or an exhausted quota.
func isNoSpace(err error) bool {
	return errors.Is(err, windows.ERROR_DISK_FULL) || errors.Is(err, windows.ERROR_HANDLE_DISK_FULL) || errors.Is(err, windows.ERROR_DISK_QUOTA_EXCEEDED)
}

// isReadOnly reports write-protected media.
func isReadOnly(err error) bool { return errors.Is(err, windows.ERROR_WRITE_PROTECT) }

// checkSettingsOwner accepts any owner here: access is left to the system.
func checkSettingsOwner(string, string, fs.FileInfo) error { return nil }

// checkSettingsLink accepts any link here: see checkSettingsOwner.
func checkSettingsLink(string, fs.FileInfo) error { return nil }
