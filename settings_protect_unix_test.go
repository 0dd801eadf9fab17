//go:build unix

package anaplan_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-anaplan/anaplan"
)

// TestFileStoreRefusesExposedFiles: issue 7, point 10. A settings file that
// group or others can read, a file or directory owned by another user, and a
// symbolic link in a directory others can write to are refused with the fix.
func TestFileStoreRefusesExposedFiles(t *testing.T) {
	ctx := context.Background()
	key := anaplan.SettingsKey(codeClientID, codeSecret)
	st := &anaplan.Settings{RefreshToken: "rt", ClientID: codeClientID}
	newFile := func(t *testing.T) (string, *anaplan.FileStore) {
		dir := filepath.Join(t.TempDir(), "cfg")
		os.Mkdir(dir, 0o700)
		p := filepath.Join(dir, "settings")
		s := anaplan.NewFileStore(p, key)
		if err := s.Save(ctx, st); err != nil {
			t.Fatal(err)
		}
		return p, s
	}
	for _, mode := range []os.FileMode{0o644, 0o640, 0o604, 0o660} {
		p, s := newFile(t)
		os.Chmod(p, mode)
		_, err := s.Load(ctx)
		if err == nil || !strings.Contains(err.Error(), "chmod 600") {
			t.Errorf("mode %04o: %v", mode, err)
		}
	}
	// A link in a world-writable (sticky, like /tmp) directory.
	p, _ := newFile(t)
	pub := filepath.Join(t.TempDir(), "pub")
	os.Mkdir(pub, 0o777)
	os.Chmod(pub, 0o1777)
	link := filepath.Join(pub, "settings")
	if err := os.Symlink(p, link); err != nil {
		t.Fatal(err)
	}
	ls := anaplan.NewFileStore(link, key)
	if _, err := ls.Load(ctx); err == nil || !strings.Contains(err.Error(), "symbolic link") {
		t.Errorf("link in a world-writable directory: %v", err)
	}
	if err := ls.Save(ctx, st); err == nil {
		t.Error("Save through a link in a world-writable directory")
	}
	// The same link in a private directory is followed.
	priv := filepath.Join(t.TempDir(), "priv")
	os.Mkdir(priv, 0o700)
	plink := filepath.Join(priv, "settings")
	os.Symlink(p, plink)
	if got, err := anaplan.NewFileStore(plink, key).Load(ctx); err != nil || got.RefreshToken != "rt" {
		t.Errorf("link in a private directory: %v", err)
	}

	if os.Geteuid() != 0 {
		t.Log("not root: the other-owner cases need chown and are skipped")
		return
	}
	const nobody = 65534
	p, s := newFile(t)
	os.Chown(p, nobody, nobody)
	if _, err := s.Load(ctx); err == nil || !strings.Contains(err.Error(), "owned by another user") || !strings.Contains(err.Error(), "chown") {
		t.Errorf("file owned by another user: %v", err)
	}
	p, s = newFile(t)
	os.Chown(filepath.Dir(p), nobody, nobody)
	if _, err := s.Load(ctx); err == nil || !strings.Contains(err.Error(), "owned by another user") {
		t.Errorf("directory owned by another user: %v", err)
	}
	if err := s.Save(ctx, st); err == nil {
		t.Error("Save into a directory owned by another user")
	}
}
