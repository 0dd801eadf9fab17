package anaplan

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
)

// maxPropFileSize bounds a file a connection-string property names (a PEM
// certificate or key, a PKCS#12 file): real ones are a few KiB.
const maxPropFileSize = 1 << 20

// readRegularFile reads the regular file at path, at most limit bytes. Any
// other kind of file is refused before it is read: a device such as
// /dev/zero would be read until memory runs out, and a FIFO would block
// (on Unix it is opened non-blocking, so the open cannot wait for a writer
// either). The file is checked by name before it is opened and by handle
// after, so that one swapped in between is refused as well. Errors describe
// the file, never its path: the caller names the property that gave it.
func readRegularFile(path string, limit int64) ([]byte, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, unwrapPathError(err)
	}
	if err := checkRegular(fi, limit); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_RDONLY|openNonBlock, 0)
	if err != nil {
		return nil, unwrapPathError(err)
	}
	defer f.Close()
	if fi, err = f.Stat(); err != nil {
		return nil, unwrapPathError(err)
	}
	if err := checkRegular(fi, limit); err != nil {
		return nil, err
	}
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, unwrapPathError(err)
	}
	if int64(len(b)) > limit {
		return nil, tooLarge(limit)
	}
	return b, nil
}

func checkRegular(fi fs.FileInfo, limit int64) error {
	m := fi.Mode()
	if !m.IsRegular() {
		return fmt.Errorf("it is %s, not a regular file: name the certificate or key file itself", fileKind(m))
	}
	if fi.Size() > limit {
		return tooLarge(limit)
	}
	return nil
}

func tooLarge(limit int64) error {
	return fmt.Errorf("the file is larger than %d KiB, too large for a certificate or key: name the certificate or key file itself", limit>>10)
}

func fileKind(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe (FIFO)"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeCharDevice != 0:
		return "a character device"
	case m&fs.ModeDevice != 0:
		return "a device"
	case m&fs.ModeIrregular != 0:
		return "an irregular file"
	}
	return "not a plain file"
}

// unwrapPathError drops the path from an *fs.PathError, keeping its cause.
func unwrapPathError(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
