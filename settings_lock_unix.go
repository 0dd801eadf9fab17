//go:build unix

package anaplan

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	"golang.org/x/sys/unix"
)

// checkSettingsDirMode refuses a settings directory that group or others can
// write to: they could replace the settings file.
func checkSettingsDirMode(dir string, fi fs.FileInfo) error {
	if fi.Mode().Perm()&0o022 != 0 {
		return errorf("anaplan: settings directory %s is group- or world-writable (mode %04o), so others could replace the settings file; run chmod 700 %s or choose another OAuthSettingsLocation",
			dir, fi.Mode().Perm(), dir)
	}
	return nil
}

// checkSettingsFileMode refuses a settings file that group or others can
// read or write, as OpenSSH refuses such private keys: reading it is half
// the way to the tokens (the other half, SettingsKey, may be derivable).
func checkSettingsFileMode(path string, fi fs.FileInfo) error {
	if fi.Mode().Perm()&0o077 != 0 {
		return errorf("anaplan: settings file %s is accessible to group or others (mode %04o), who could read or plant tokens; run chmod 600 %s",
			path, fi.Mode().Perm(), path)
	}
	return nil
}

// checkSettingsOwner refuses a settings file or directory owned by another
// user than this process's (root excepted, as OpenSSH allows): its owner
// could read or replace the tokens whatever the mode says.
func checkSettingsOwner(path, what string, fi fs.FileInfo) error {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return nil
	}
	if uid := int(st.Uid); uid != os.Geteuid() && uid != 0 {
		return errorf("anaplan: settings %s %s is owned by another user (uid %d, not %d), who could read or replace the tokens; run chown %d %s, or choose another OAuthSettingsLocation",
			what, path, uid, os.Geteuid(), os.Geteuid(), path)
	}
	return nil
}

// checkSettingsLink refuses a symbolic link that someone else could have
// planted or swapped: one in a directory that group or others can write to
// (even with the sticky bit, the link's owner could repoint it), or owned
// by another user.
func checkSettingsLink(link string, fi fs.FileInfo) error {
	if err := checkSettingsOwner(link, "link", fi); err != nil {
		return err
	}
	dir := filepath.Dir(link)
	di, err := os.Stat(dir)
	if err != nil {
		return errorf("anaplan: settings link %s: %w", link, err)
	}
	if di.Mode().Perm()&0o022 != 0 {
		return errorf("anaplan: settings path %s is a symbolic link in directory %s, which group or others can write to (mode %04o), so anyone could point it elsewhere; use the real path, or move the link to a directory only you can write to (chmod 700)",
			link, dir, di.Mode().Perm())
	}
	return checkSettingsOwner(dir, "directory", di)
}

// syncSettingsDir makes a rename in dir durable.
func syncSettingsDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOTSUP) {
		return err
	}
	return nil
}

// lockSettingsFile takes an exclusive flock(2) on path (created 0600 when missing),
// waiting under ctx. flock locks belong to the open file description, so two
// lockSettingsFile calls in one process exclude each other as two processes do.
// The lock dies with the process, so a crash leaves no stale lock.
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
		var ferr error
		if err := rc.Control(func(fd uintptr) {
			ferr = unix.Flock(int(fd), unix.LOCK_EX|unix.LOCK_NB)
		}); err != nil {
			return err
		}
		return ferr
	}
	if err := pollLock(ctx, try, func(err error) bool { return !errors.Is(err, unix.EWOULDBLOCK) && !errors.Is(err, unix.EINTR) }); err != nil {
		f.Close()
		if ctx.Err() != nil {
			return nil, err
		}
		return nil, fmt.Errorf("flock: %w", err)
	}
	return func() {
		_ = rc.Control(func(fd uintptr) { _ = unix.Flock(int(fd), unix.LOCK_UN) })
		f.Close() // also releases the lock
	}, nil
}

// settingsLockCrossProcess reports whether lockSettingsFile excludes other processes.
const settingsLockCrossProcess = true

// isNoSpace reports a full file system or an exhausted quota.
func isNoSpace(err error) bool { return errors.Is(err, unix.ENOSPC) || errors.Is(err, unix.EDQUOT) }

// isReadOnly reports a read-only file system.
func isReadOnly(err error) bool { return errors.Is(err, unix.EROFS) }
