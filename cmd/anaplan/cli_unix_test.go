//go:build unix

package main

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/go-anaplan/anaplan/anaplantest"
)

// TestConnectionFileFIFO: a FIFO is refused before it is opened (an open
// blocks until a writer comes, and none does).
func TestConnectionFileFIFO(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	r := inProcess("whoami", "--connection-file", fifo)
	if r.code != exitUsage || !strings.Contains(r.stderr, "not a regular file") {
		t.Errorf("exit %d, stderr %q", r.code, r.stderr)
	}
}

// TestDownloadPlacement: -o DIR/ and -o DIR save into the directory (once
// "rename … file exists"), the file gets 0666 less the umask (once always
// 0600), an existing file is replaced only with --force, and control
// characters of the remote name never reach the local one.
func TestDownloadPlacement(t *testing.T) {
	old := syscall.Umask(0o027)
	defer syscall.Umask(old)
	tn := newTenant(t)
	tn.srv.AddFile(wsID, modelID, anaplantest.File{ID: "113000000007", Name: "rev.csv", Content: []byte("new\n")})
	tn.srv.AddFile(wsID, modelID, anaplantest.File{ID: "113000000008", Name: "evil\x1b]0;owned\x07\n.csv", Content: []byte("e\n")})
	out := filepath.Join(tn.dir, "out")
	if err := os.Mkdir(out, 0o755); err != nil {
		t.Fatal(err)
	}
	dl := func(args ...string) result {
		return tn.run(append([]string{"download", "--model", modelID}, args...)...)
	}
	check := func(path, content string) {
		t.Helper()
		b, err := os.ReadFile(path)
		if err != nil || string(b) != content {
			t.Errorf("%s holds %q (%v), want %q", path, b, err, content)
			return
		}
		if st, _ := os.Stat(path); st.Mode().Perm() != 0o640 {
			t.Errorf("%s has mode %v, want 0640 (0666 less the umask 027)", path, st.Mode().Perm())
		}
	}

	if r := dl("rev.csv", "-o", "out/"); r.code != 0 {
		t.Fatalf("-o out/: exit %d %s", r.code, r.stderr)
	}
	check(filepath.Join(out, "rev.csv"), "new\n")
	if err := os.Remove(filepath.Join(out, "rev.csv")); err != nil {
		t.Fatal(err)
	}
	if r := dl("rev.csv", "-o", "out"); r.code != 0 {
		t.Fatalf("-o out: exit %d %s", r.code, r.stderr)
	}
	check(filepath.Join(out, "rev.csv"), "new\n")

	// Not replaced without --force, even into a directory.
	if err := os.WriteFile(filepath.Join(out, "rev.csv"), []byte("mine\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	before := tn.srv.Calls("")
	for _, to := range []string{"out/", "out/rev.csv"} {
		if r := dl("rev.csv", "-o", to); r.code != exitFailure || !strings.Contains(r.stderr, "exists: pass --force") {
			t.Errorf("-o %s over an existing file: exit %d, %q", to, r.code, r.stderr)
		}
	}
	if b, _ := os.ReadFile(filepath.Join(out, "rev.csv")); string(b) != "mine\n" {
		t.Errorf("the existing file was replaced: %q", b)
	}
	if r := dl("rev.csv", "-o", "out/", "--force"); r.code != 0 {
		t.Fatalf("--force: exit %d %s", r.code, r.stderr)
	}
	check(filepath.Join(out, "rev.csv"), "new\n")
	_ = before

	if r := dl("rev.csv", "-o", "nodir/"); r.code != exitFailure || !strings.Contains(r.stderr, "is not a directory") {
		t.Errorf("-o nodir/: exit %d, %q", r.code, r.stderr)
	}

	// A hostile name: no control character in the local name.
	if r := dl("113000000008"); r.code != 0 {
		t.Fatalf("hostile name: exit %d %s", r.code, r.stderr)
	}
	check(filepath.Join(tn.dir, "evil_]0;owned__.csv"), "e\n")
	entries, _ := os.ReadDir(tn.dir)
	for _, e := range entries {
		if strings.ContainsFunc(e.Name(), unsafeRune) {
			t.Errorf("local name %q holds a control character", e.Name())
		}
		if strings.HasSuffix(e.Name(), ".part") {
			t.Errorf("temporary file left: %s", e.Name())
		}
	}
}
