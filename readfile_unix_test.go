//go:build unix

package anaplan

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Issue 7 point 9: files named in a connection string. Before the fix
// Certificate=/dev/zero read until memory ran out and a FIFO blocked for ever
// (the FIFO and /dev/zero cases hang on today's code; the directory and the
// large file cases fail with the wrong error or none).
func TestConnectionStringFilesAreRegular(t *testing.T) {
	dir := t.TempDir()
	big := filepath.Join(dir, "big.pem")
	if err := os.WriteFile(big, make([]byte, maxPropFileSize+1), 0o600); err != nil {
		t.Fatal(err)
	}
	fifo := filepath.Join(dir, "fifo.pem")
	hasFIFO := syscall.Mkfifo(fifo, 0o600) == nil
	link := filepath.Join(dir, "link.pem")
	if err := os.Symlink("/dev/zero", link); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, cs, want string
	}{
		{"/dev/zero", "Certificate=/dev/zero", "Certificate: the file it names cannot be read: it is a character device, not a regular file"},
		{"symlink to /dev/zero", "Certificate=" + link, "Certificate: the file it names cannot be read: it is a character device, not a regular file"},
		{"directory", "Certificate=" + dir, "Certificate: the file it names cannot be read: it is a directory, not a regular file"},
		{"too large", "Certificate=" + big, "Certificate: the file it names cannot be read: the file is larger than 1024 KiB"},
		{"pfx /dev/zero", "CertificateType=PFXFILE;Certificate=/dev/zero", "Certificate: the file it names cannot be read: it is a character device"},
		{"missing", "Certificate=" + filepath.Join(dir, "none.pem"), "Certificate: the file it names cannot be read: no such file or directory"},
	}
	if hasFIFO {
		cases = append(cases, struct{ name, cs, want string }{"fifo", "Certificate=" + fifo, "Certificate: the file it names cannot be read: it is a named pipe (FIFO), not a regular file"})
	} else {
		t.Log("mkfifo failed here: the FIFO case is not run")
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			done := make(chan error, 1)
			go func() {
				_, err := applyCS(tc.cs)
				done <- err
			}()
			var err error
			select {
			case err = <-done:
			case <-time.After(10 * time.Second):
				t.Fatal("reading the file did not return within 10 s")
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
			if strings.Contains(err.Error(), dir) || strings.Contains(err.Error(), "/dev/zero") {
				t.Errorf("the error shows the path: %v", err)
			}
		})
	}
	// The PrivateKey property is named when its file is the bad one.
	good := filepath.Join(dir, "c.pem")
	os.WriteFile(good, []byte("-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n"), 0o600)
	for _, pk := range []string{dir, "/dev/zero"} {
		if _, err := applyCS("Certificate=" + good + ";PrivateKey=" + pk); err == nil || !strings.Contains(err.Error(), "property PrivateKey: the file it names cannot be read: it is a") {
			t.Fatalf("error %v, want one naming PrivateKey", err)
		}
	}
}

func TestReadRegularFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f")
	data := []byte(strings.Repeat("x", 100))
	os.WriteFile(p, data, 0o600)
	if b, err := readRegularFile(p, 100); err != nil || string(b) != string(data) {
		t.Fatalf("read %d bytes, %v", len(b), err)
	}
	if _, err := readRegularFile(p, 99); err == nil {
		t.Fatal("a file over the limit was read")
	}
}
