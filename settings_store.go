package anaplan

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// Settings are the OAuth values a SettingsStore keeps between runs.
//
// String, GoString and LogValue redact the tokens; JSON encoding keeps them,
// because stores need it.
type Settings struct {
	AccessToken  string
	RefreshToken string
	TokenType    string
	Expiry       time.Time
	ClientID     string
}

// SettingsStore persists OAuth settings. Implementations must be safe for
// concurrent use.
type SettingsStore interface {
	Load(ctx context.Context) (*Settings, error) // ErrNoSettings when nothing is stored
	Save(ctx context.Context, s *Settings) error
}

// Locker is implemented by stores that can be held across a
// read-refresh-write, so that two processes never spend the same rotating
// refresh token.
type Locker interface {
	Lock(ctx context.Context) (unlock func(), err error)
}

// String implements fmt.Stringer without revealing the tokens.
func (s Settings) String() string {
	return fmt.Sprintf("Settings{ClientID:%s TokenType:%s AccessToken:%s RefreshToken:%s Expiry:%s}",
		s.ClientID, s.TokenType, redact(s.AccessToken), redact(s.RefreshToken), fmtTime(s.Expiry))
}

// GoString implements fmt.GoStringer without revealing the tokens.
func (s Settings) GoString() string {
	return fmt.Sprintf("anaplan.Settings{AccessToken:%q, RefreshToken:%q, TokenType:%q, Expiry:%q, ClientID:%q}",
		redact(s.AccessToken), redact(s.RefreshToken), s.TokenType, fmtTime(s.Expiry), s.ClientID)
}

// LogValue implements slog.LogValuer without revealing the tokens.
func (s Settings) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("client_id", s.ClientID),
		slog.String("token_type", s.TokenType),
		slog.String("access_token", redact(s.AccessToken)),
		slog.String("refresh_token", redact(s.RefreshToken)),
		slog.Time("expiry", s.Expiry),
	)
}

// ---- the key

// Fixed HKDF inputs of SettingsKey. Changing any of them changes every key,
// so that files written before no longer open: they are part of the format.
const (
	settingsKeySalt = "github.com/go-anaplan/anaplan settings key salt"
	settingsKeyInfo = "go-anaplan-settings v1 AES-256-GCM file key"
)

// SettingsKey derives the 32-byte key that seals a FileStore from an OAuth
// client's ID and secret, with HKDF-SHA256. It is what FromConnectionString
// uses for OAuthSettingsLocation when no OAuthSettingsKey is given.
//
// The key depends only on its arguments, so a settings file written on one
// machine opens on another that uses the same client. The ID and the secret
// are length-prefixed before derivation: ("ab", "c") and ("a", "bc") give
// different keys.
//
// A device-grant client has no secret, and its ID is not secret either: the
// key then only obscures the file, and anyone who can read the file and knows
// the client ID can open it. Such users should pass a random 32-byte key of
// their own (OAuthSettingsKey, or NewFileStore's key argument) kept in a
// secret store.
func SettingsKey(clientID, clientSecret string) []byte {
	ikm := make([]byte, 0, 8+len(clientID)+len(clientSecret))
	ikm = binary.BigEndian.AppendUint32(ikm, uint32(len(clientID)))
	ikm = append(ikm, clientID...)
	ikm = binary.BigEndian.AppendUint32(ikm, uint32(len(clientSecret)))
	ikm = append(ikm, clientSecret...)
	defer clear(ikm)
	key, err := hkdf.Key(sha256.New, ikm, []byte(settingsKeySalt), settingsKeyInfo, settingsKeyLen)
	if err != nil {
		// Cannot happen for a 32-byte SHA-256 output; a nil key makes
		// FileStore report a wrong key length instead of panicking.
		return nil
	}
	return key
}

// ---- the sealed file format

const (
	settingsFormat    = "go-anaplan-settings"
	settingsVersion   = 1
	settingsAlg       = "AES-256-GCM"
	settingsKeyLen    = 32
	settingsNonceLen  = 12
	settingsMaxFile   = 1 << 20 // far above any real settings file
	settingsTagLength = 16
)

// settingsHeader is the authenticated part of the envelope: its JSON encoding
// is the GCM additional data, so the ciphertext is bound to the format,
// version and algorithm it was written under.
type settingsHeader struct {
	Format  string `json:"format"`
	Version int    `json:"version"`
	Alg     string `json:"alg"`
}

// settingsEnvelope is the whole file: one line of JSON,
//
//	{"format":"go-anaplan-settings","version":1,"alg":"AES-256-GCM","nonce":"…","ciphertext":"…"}
//
// where nonce (12 random bytes, new on every write) and ciphertext (GCM
// output, tag included) are standard padded base64, and the plaintext is the
// JSON encoding of Settings.
type settingsEnvelope struct {
	Format     string `json:"format"`
	Version    int    `json:"version"`
	Alg        string `json:"alg"`
	Nonce      []byte `json:"nonce"`
	Ciphertext []byte `json:"ciphertext"`
}

var settingsAAD = func() []byte {
	b, err := json.Marshal(settingsHeader{Format: settingsFormat, Version: settingsVersion, Alg: settingsAlg})
	if err != nil {
		panic(err) // a constant struct: cannot fail
	}
	return b
}()

// The kinds of unreadable settings files. Load wraps them in an error that
// names the file.
var (
	errSettingsCorrupt = errors.New("damaged or not a go-anaplan settings file")
	errSettingsKey     = errors.New("sealed with a different key: OAuthClientId/OAuthClientSecret or OAuthSettingsKey differ from the ones that wrote it (or the file was modified)")
	errSettingsNewer   = errors.New("written by a newer version of github.com/go-anaplan/anaplan")
)

func newSettingsAEAD(key []byte) (cipher.AEAD, error) {
	if len(key) != settingsKeyLen {
		return nil, errorf("anaplan: the settings key must be %d bytes for AES-256, not %d: use SettingsKey(clientID, clientSecret) or %d random bytes",
			settingsKeyLen, len(key), settingsKeyLen)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, errorf("anaplan: settings key: %w", err)
	}
	return cipher.NewGCM(block)
}

// encodeSettingsFile seals s into the bytes of a settings file, drawing the
// nonce from random.
func encodeSettingsFile(aead cipher.AEAD, random io.Reader, s *Settings) ([]byte, error) {
	plain, err := json.Marshal(s)
	if err != nil {
		return nil, errorf("anaplan: encoding settings: %w", err)
	}
	defer clear(plain)
	nonce := make([]byte, settingsNonceLen)
	if _, err := io.ReadFull(random, nonce); err != nil {
		return nil, errorf("anaplan: drawing a nonce for the settings file: %w", err)
	}
	env := settingsEnvelope{
		Format:     settingsFormat,
		Version:    settingsVersion,
		Alg:        settingsAlg,
		Nonce:      nonce,
		Ciphertext: aead.Seal(nil, nonce, plain, settingsAAD),
	}
	out, err := json.Marshal(env)
	if err != nil {
		return nil, errorf("anaplan: encoding settings file: %w", err)
	}
	return append(out, '\n'), nil
}

// decodeSettingsFile opens the bytes of a settings file. It accepts only the
// exact bytes encodeSettingsFile writes (a trailing "\n" or "\r\n" aside), so
// any change to the file is an error, and returns errors wrapping
// errSettingsCorrupt, errSettingsKey or errSettingsNewer.
func decodeSettingsFile(data []byte, aead cipher.AEAD) (*Settings, error) {
	if len(data) > settingsMaxFile {
		return nil, fmt.Errorf("%w: larger than %d bytes", errSettingsCorrupt, settingsMaxFile)
	}
	body := data
	if b, ok := bytes.CutSuffix(body, []byte("\n")); ok {
		body, _ = bytes.CutSuffix(b, []byte("\r"))
	}
	// Format and version first, so that a newer file is reported as such
	// whatever else it holds.
	var hdr struct {
		Format  string `json:"format"`
		Version int    `json:"version"`
	}
	if err := json.Unmarshal(body, &hdr); err != nil {
		return nil, fmt.Errorf("%w: truncated or not JSON", errSettingsCorrupt)
	}
	if hdr.Format != settingsFormat {
		return nil, fmt.Errorf("%w: its format is not %q", errSettingsCorrupt, settingsFormat)
	}
	if hdr.Version > settingsVersion {
		return nil, fmt.Errorf("%w (format version %d; this version reads %d)", errSettingsNewer, hdr.Version, settingsVersion)
	}
	if hdr.Version != settingsVersion {
		return nil, fmt.Errorf("%w: unknown format version %d", errSettingsCorrupt, hdr.Version)
	}
	var env settingsEnvelope
	if err := json.Unmarshal(body, &env); err != nil {
		return nil, fmt.Errorf("%w: malformed envelope", errSettingsCorrupt)
	}
	if env.Alg != settingsAlg {
		return nil, fmt.Errorf("%w: unsupported algorithm (want %s)", errSettingsCorrupt, settingsAlg)
	}
	if len(env.Nonce) != settingsNonceLen || len(env.Ciphertext) < settingsTagLength {
		return nil, fmt.Errorf("%w: nonce or ciphertext has the wrong length", errSettingsCorrupt)
	}
	canonical, err := json.Marshal(env)
	if err != nil || !bytes.Equal(canonical, body) {
		return nil, fmt.Errorf("%w: the envelope was modified (not in the form this SDK writes)", errSettingsCorrupt)
	}
	plain, err := aead.Open(nil, env.Nonce, env.Ciphertext, settingsAAD)
	if err != nil {
		return nil, errSettingsKey
	}
	defer clear(plain)
	var s Settings
	if err := json.Unmarshal(plain, &s); err != nil {
		return nil, fmt.Errorf("%w: the sealed settings are not valid JSON", errSettingsCorrupt)
	}
	return &s, nil
}

// ---- FileStore

// FileStore keeps Settings in one file sealed with AES-256-GCM.
//
// The file is a single line of JSON naming its format and version
// ({"format":"go-anaplan-settings","version":1,"alg":"AES-256-GCM",…}); the
// header is authenticated together with the sealed settings, and every write
// uses a fresh random nonce. Save writes a temporary file (mode 0600) in the
// same directory (created 0700 when missing), syncs it and renames it over
// the target, so that a reader sees the old settings or the new ones, never
// a mix.
//
// Load refuses, with an error that names the file and the fix, a file or
// directory that others can write to, a damaged file, a file sealed with
// another key and a file written by a newer version of this package; it
// never changes or removes such a file.
//
// Lock takes an exclusive lock on the sibling file path+".lock" (flock(2) on
// Unix, LockFileEx on Windows), which excludes other processes as well as
// other FileStore values and goroutines of this process using the same path.
// The lock file is left in place. On other systems (Plan 9, js, wasip1), Lock
// excludes only users of the path within this process.
//
// String, GoString and LogValue show the path, never the key. A FileStore is
// safe for concurrent use.
type FileStore struct {
	path string      // absolute and clean
	aead cipher.AEAD // nil when err is set; a pointer inside, so the key never prints
	err  error       // from NewFileStore, returned by every call
	res  *fileReservation
}

// fileReservation is the next settings file, created by PrepareSpend with its
// space already allocated, so that the Save after a spend cannot run out of
// room. It is used by that Save, or removed when the lock is released.
type fileReservation struct {
	mu  sync.Mutex
	f   *os.File
	dir string
}

// settingsReserve is the room PrepareSpend allocates for the next settings
// file: far above a real one (a few KiB, even with long JWTs).
const settingsReserve = 64 << 10

func (r *fileReservation) take(dir string) *os.File {
	if r == nil {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	f := r.f
	if f == nil || r.dir != dir {
		r.releaseLocked()
		return nil
	}
	r.f = nil
	return f
}

func (r *fileReservation) release() {
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.releaseLocked()
}

func (r *fileReservation) releaseLocked() {
	if r.f != nil {
		name := r.f.Name()
		r.f.Close()
		os.Remove(name)
		r.f = nil
	}
}

// NewFileStore returns a store that keeps settings in the file at path,
// sealed with key, which must be 32 bytes (see SettingsKey). A relative path
// is resolved against the current directory now. NewFileStore does not touch
// the file system; a bad path or key is reported by Load, Save and Lock.
func NewFileStore(path string, key []byte) *FileStore {
	s := &FileStore{res: &fileReservation{}}
	if path == "" {
		s.err = errors.New("anaplan: FileStore: the settings path is empty; give a file path")
		return s
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		s.err = errorf("anaplan: FileStore: cannot resolve settings path %s: %w", path, err)
		return s
	}
	s.path = abs
	aead, err := newSettingsAEAD(key)
	if err != nil {
		s.err = err
		return s
	}
	s.aead = aead
	return s
}

func (s *FileStore) usable() error {
	switch {
	case s == nil || (s.path == "" && s.err == nil):
		return errors.New("anaplan: FileStore is not initialized; create it with NewFileStore")
	case s.err != nil:
		return s.err
	}
	return nil
}

// Path returns the absolute path of the settings file.
func (s *FileStore) Path() string {
	if s == nil {
		return ""
	}
	return s.path
}

// String implements fmt.Stringer; it shows the path, never the key.
func (s *FileStore) String() string { return "FileStore{path:" + s.Path() + "}" }

// GoString implements fmt.GoStringer; it shows the path, never the key.
func (s *FileStore) GoString() string { return fmt.Sprintf("anaplan.FileStore{path:%q}", s.Path()) }

// LogValue implements slog.LogValuer; it shows the path, never the key.
func (s *FileStore) LogValue() slog.Value {
	return slog.GroupValue(slog.String("path", s.Path()))
}

// PrepareSpend implements SpendPreparer: before a single-use credential is
// spent, it makes sure the Save that follows can land. It creates the next
// settings file (a temporary file beside the target) and allocates its room
// now, so that a full, read-only or otherwise unwritable directory is found
// out before anything is spent, and the Save after the spend writes into
// space it already holds. The reservation is used by the next Save, or
// removed when the store's lock is released. It sets no deadline.
//
// On copy-on-write file systems (btrfs, ZFS) an overwrite may still need new
// blocks; there the reservation makes running out of room unlikely, not
// impossible.
func (s *FileStore) PrepareSpend(ctx context.Context) (time.Time, error) {
	if err := s.usable(); err != nil {
		return time.Time{}, err
	}
	if err := ctx.Err(); err != nil {
		return time.Time{}, err
	}
	path, err := s.target()
	if err != nil {
		return time.Time{}, err
	}
	dir := filepath.Dir(path)
	if err := s.ensureDir(dir); err != nil {
		return time.Time{}, err
	}
	if s.res == nil {
		return time.Time{}, errors.New("anaplan: FileStore is not initialized; create it with NewFileStore")
	}
	s.res.mu.Lock()
	defer s.res.mu.Unlock()
	if s.res.f != nil && s.res.dir == dir {
		return time.Time{}, nil
	}
	s.res.releaseLocked()
	removeStaleTemps(dir, filepath.Base(path))
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return time.Time{}, unwritableDir(dir, err)
	}
	fail := func(err error) (time.Time, error) {
		f.Close()
		os.Remove(f.Name())
		return time.Time{}, unwritableDir(dir, err)
	}
	if err := f.Chmod(0o600); err != nil && !errors.Is(err, errors.ErrUnsupported) {
		return fail(err)
	}
	if _, err := f.Write(make([]byte, settingsReserve)); err != nil {
		return fail(err)
	}
	if err := f.Sync(); err != nil { // delayed allocation reports ENOSPC here
		return fail(err)
	}
	s.res.f, s.res.dir = f, dir
	return time.Time{}, nil
}

// staleTempAge: a temporary settings file older than this belongs to a
// process that was killed between creating it and renaming it (or using
// its reservation); a live one is renamed or removed within milliseconds.
const staleTempAge = time.Minute

// removeStaleTemps removes what killed processes left of the next settings
// file ("."+base+".tmp-*"), so that kills cannot fill the disk with
// reservations. PrepareSpend calls it under the store's lock.
func removeStaleTemps(dir, base string) {
	matches, _ := filepath.Glob(filepath.Join(dir, "."+base+".tmp-*"))
	for _, m := range matches {
		if fi, err := os.Lstat(m); err == nil && fi.Mode().IsRegular() && time.Since(fi.ModTime()) > staleTempAge {
			os.Remove(m)
		}
	}
}

// unwritableDir explains why the settings directory cannot take a new file.
func unwritableDir(dir string, err error) error {
	switch {
	case isNoSpace(err):
		return errorf("anaplan: the file system of settings directory %s is full (%w): free at least %d KiB there, or choose another OAuthSettingsLocation; nothing was spent", dir, err, settingsReserve>>10)
	case isReadOnly(err) || errors.Is(err, fs.ErrPermission):
		return errorf("anaplan: settings directory %s is not writable (%w): make it writable by this user (or remount it read-write), or choose another OAuthSettingsLocation; nothing was spent", dir, err)
	default:
		return errorf("anaplan: settings directory %s cannot take a new settings file (%w); nothing was spent", dir, err)
	}
}

// target is the file the store reads and replaces: the path, or the file it
// links to when the path is a symbolic link (a Save then replaces the target,
// not the link, and the lock is taken beside the target).
//
// A link is followed only where nobody else could have planted it: a link
// in a directory that group or others can write to, or owned by another
// user, is refused (Unix), as OpenSSH refuses such key files.
func (s *FileStore) target() (string, error) {
	p := s.path
	for range 40 { // follows links even to a file not created yet
		fi, err := os.Lstat(p)
		if err != nil || fi.Mode()&fs.ModeSymlink == 0 {
			return p, nil
		}
		if err := checkSettingsLink(p, fi); err != nil {
			return "", err
		}
		t, err := os.Readlink(p)
		if err != nil {
			return p, nil
		}
		if !filepath.IsAbs(t) {
			t = filepath.Join(filepath.Dir(p), t)
		}
		p = t
	}
	return p, nil
}

// Load reads and opens the settings file. It returns an error wrapping
// ErrNoSettings when the file does not exist.
func (s *FileStore) Load(ctx context.Context) (*Settings, error) {
	if err := s.usable(); err != nil {
		return nil, err
	}
	path, err := s.target()
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := checkSettingsDir(filepath.Dir(path)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	// A FIFO or device would block the open itself: refuse it before
	// opening (the opened file is checked again below).
	if fi, err := os.Stat(path); err == nil && !fi.Mode().IsRegular() {
		return nil, errorf("anaplan: settings file %s is not a regular file; point OAuthSettingsLocation at a file", path)
	}
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w in %s", ErrNoSettings, path)
	}
	if err != nil {
		return nil, errorf("anaplan: reading settings file: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, errorf("anaplan: reading settings file: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, errorf("anaplan: settings file %s is not a regular file; point OAuthSettingsLocation at a file", path)
	}
	if err := checkSettingsFileMode(path, fi); err != nil {
		return nil, err
	}
	if err := checkSettingsOwner(path, "file", fi); err != nil {
		return nil, err
	}
	data, err := io.ReadAll(io.LimitReader(f, settingsMaxFile+1))
	if err != nil {
		return nil, errorf("anaplan: reading settings file: %w", err)
	}
	st, err := decodeSettingsFile(data, s.aead)
	if err != nil {
		return nil, s.openError(err)
	}
	return st, nil
}

func (s *FileStore) openError(err error) error {
	switch {
	case errors.Is(err, errSettingsNewer):
		return errorf("anaplan: settings file %s was %w: upgrade this program, or point OAuthSettingsLocation elsewhere", s.path, err)
	case errors.Is(err, errSettingsKey):
		return errorf("anaplan: cannot open settings file %s: it was %w; use the client and key that wrote it, or move the file aside and sign in again (the file was left unchanged)", s.path, err)
	default:
		return errorf("anaplan: settings file %s is unreadable (%w); move it aside or delete it and sign in again (the file was left unchanged)", s.path, err)
	}
}

// Save seals st and atomically replaces the settings file with it.
func (s *FileStore) Save(ctx context.Context, st *Settings) error {
	if err := s.usable(); err != nil {
		return err
	}
	path, err := s.target()
	if err != nil {
		return err
	}
	if st == nil {
		return errors.New("anaplan: FileStore.Save: the settings are nil")
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	dir := filepath.Dir(path)
	if err := s.ensureDir(dir); err != nil {
		return err
	}
	data, err := encodeSettingsFile(s.aead, rand.Reader, st)
	if err != nil {
		return err
	}
	// The file PrepareSpend reserved, when there is one: its room is
	// allocated, so this write cannot run out of space.
	tmp := s.res.take(dir)
	if tmp == nil {
		if tmp, err = os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*"); err != nil {
			return errorf("anaplan: writing settings file: %w", unwritableDir(dir, err))
		}
		if err := tmp.Chmod(0o600); err != nil && !errors.Is(err, errors.ErrUnsupported) {
			tmp.Close()
			os.Remove(tmp.Name())
			return errorf("anaplan: writing settings file: %w", err)
		}
	}
	tmpName := tmp.Name()
	committed := false
	defer func() {
		if !committed {
			tmp.Close()
			os.Remove(tmpName)
		}
	}()
	if _, err := tmp.WriteAt(data, 0); err != nil {
		return errorf("anaplan: writing settings file: %w", err)
	}
	if err := tmp.Truncate(int64(len(data))); err != nil {
		return errorf("anaplan: writing settings file: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		return errorf("anaplan: writing settings file: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return errorf("anaplan: writing settings file: %w", err)
	}
	if err := os.Rename(tmpName, path); err != nil {
		return errorf("anaplan: replacing settings file %s: %w", path, err)
	}
	committed = true
	if err := syncSettingsDir(dir); err != nil {
		return errorf("anaplan: settings file %s written, but syncing its directory failed: %w", path, err)
	}
	return nil
}

// ensureDir creates dir (0700) when missing and refuses one others can write to.
func (s *FileStore) ensureDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return errorf("anaplan: creating settings directory: %w", err)
	}
	return checkSettingsDir(dir)
}

// Lock takes the store's exclusive lock, waiting for it under ctx. unlock
// releases it and may be called more than once. The lock is not reentrant.
func (s *FileStore) Lock(ctx context.Context) (unlock func(), err error) {
	if err := s.usable(); err != nil {
		return nil, err
	}
	path, err := s.target()
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	release, err := acquireSettingsPathLock(ctx, path)
	if err != nil {
		return nil, errorf("anaplan: waiting for the settings lock on %s: %w", path, err)
	}
	if err := s.ensureDir(filepath.Dir(path)); err != nil {
		release()
		return nil, err
	}
	fileRelease, err := lockSettingsFile(ctx, path+".lock")
	if err != nil {
		release()
		return nil, errorf("anaplan: waiting for the settings lock %s.lock: %w", path, err)
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			s.res.release() // a reservation no Save used
			fileRelease()
			release()
		})
	}, nil
}

// settingsPathLocks holds one in-process lock per settings path, so that goroutines
// and FileStore values of this process queue on a channel rather than poll
// the file lock. Entries are removed when nobody holds or waits for them.
var settingsPathLocks = struct {
	sync.Mutex
	m map[string]*settingsPathLock
}{m: map[string]*settingsPathLock{}}

type settingsPathLock struct {
	ch   chan struct{} // holds a value while locked
	refs int           // holders and waiters
}

func acquireSettingsPathLock(ctx context.Context, path string) (release func(), err error) {
	settingsPathLocks.Lock()
	pl := settingsPathLocks.m[path]
	if pl == nil {
		pl = &settingsPathLock{ch: make(chan struct{}, 1)}
		settingsPathLocks.m[path] = pl
	}
	pl.refs++
	settingsPathLocks.Unlock()

	done := func() {
		settingsPathLocks.Lock()
		pl.refs--
		if pl.refs == 0 {
			delete(settingsPathLocks.m, path)
		}
		settingsPathLocks.Unlock()
	}
	select {
	case pl.ch <- struct{}{}:
		return func() { <-pl.ch; done() }, nil
	case <-ctx.Done():
		done()
		return nil, ctx.Err()
	}
}

// ---- MemoryStore

// MemoryStore keeps Settings in memory. It copies settings in and out, so a
// caller cannot change what is stored except through Save. Its Lock excludes
// other users of the same store within this process.
//
// String, GoString and LogValue never show the stored settings. A MemoryStore
// is safe for concurrent use; create it with NewMemoryStore.
type MemoryStore struct {
	st *memoryState // a pointer, so that printing a MemoryStore shows no settings
}

type memoryState struct {
	name string        // for memory://NAME stores
	lock chan struct{} // holds a value while locked
	mu   sync.Mutex
	s    *Settings
}

// NewMemoryStore returns an empty MemoryStore.
func NewMemoryStore() *MemoryStore {
	return &MemoryStore{st: &memoryState{lock: make(chan struct{}, 1)}}
}

var namedMemoryStores = struct {
	sync.Mutex
	m map[string]*MemoryStore
}{m: map[string]*MemoryStore{}}

// memoryStoreNamed returns the process-wide store for memory://NAME: the same
// name always gives the same store.
func memoryStoreNamed(name string) *MemoryStore {
	namedMemoryStores.Lock()
	defer namedMemoryStores.Unlock()
	if m := namedMemoryStores.m[name]; m != nil {
		return m
	}
	m := NewMemoryStore()
	m.st.name = name
	namedMemoryStores.m[name] = m
	return m
}

func (m *MemoryStore) usable() error {
	if m == nil || m.st == nil {
		return errors.New("anaplan: MemoryStore is not initialized; create it with NewMemoryStore")
	}
	return nil
}

// String implements fmt.Stringer; it never shows the stored settings.
func (m *MemoryStore) String() string {
	if m == nil || m.st == nil || m.st.name == "" {
		return "MemoryStore{}"
	}
	return "MemoryStore{name:" + m.st.name + "}"
}

// GoString implements fmt.GoStringer; it never shows the stored settings.
func (m *MemoryStore) GoString() string {
	if m == nil || m.st == nil || m.st.name == "" {
		return "anaplan.MemoryStore{}"
	}
	return fmt.Sprintf("anaplan.MemoryStore{name:%q}", m.st.name)
}

// LogValue implements slog.LogValuer; it never shows the stored settings.
func (m *MemoryStore) LogValue() slog.Value {
	if m == nil || m.st == nil {
		return slog.GroupValue()
	}
	return slog.GroupValue(slog.String("name", m.st.name))
}

// Load returns a copy of the stored settings, or ErrNoSettings.
func (m *MemoryStore) Load(ctx context.Context) (*Settings, error) {
	if err := m.usable(); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m.st.mu.Lock()
	defer m.st.mu.Unlock()
	if m.st.s == nil {
		return nil, ErrNoSettings
	}
	c := *m.st.s
	return &c, nil
}

// Save stores a copy of st.
func (m *MemoryStore) Save(ctx context.Context, st *Settings) error {
	if err := m.usable(); err != nil {
		return err
	}
	if st == nil {
		return errors.New("anaplan: MemoryStore.Save: the settings are nil")
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	c := *st
	m.st.mu.Lock()
	m.st.s = &c
	m.st.mu.Unlock()
	return nil
}

// Lock takes the store's exclusive lock, waiting for it under ctx. unlock
// releases it and may be called more than once. The lock is not reentrant.
func (m *MemoryStore) Lock(ctx context.Context) (unlock func(), err error) {
	if err := m.usable(); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	select {
	case m.st.lock <- struct{}{}:
	case <-ctx.Done():
		return nil, errorf("anaplan: waiting for the MemoryStore lock: %w", ctx.Err())
	}
	var once sync.Once
	return func() { once.Do(func() { <-m.st.lock }) }, nil
}

// checkSettingsDir checks that dir is a directory whose mode this system
// accepts for settings (checkSettingsDirMode, per system).
func checkSettingsDir(dir string) error {
	fi, err := os.Stat(dir)
	if err != nil {
		return errorf("anaplan: settings directory: %w", err)
	}
	if !fi.IsDir() {
		return errorf("anaplan: settings directory %s is not a directory; point OAuthSettingsLocation at a file in a directory", dir)
	}
	if err := checkSettingsDirMode(dir, fi); err != nil {
		return err
	}
	return checkSettingsOwner(dir, "directory", fi)
}

// Polling bounds of lockSettingsFile while another process holds the lock.
const (
	lockPollMin = time.Millisecond
	lockPollMax = 50 * time.Millisecond
)

// pollLock calls try until it succeeds, waiting between calls with a growing
// delay (lockPollMin to lockPollMax) while the lock is busy, under ctx. An
// error for which failed reports true ends the wait.
func pollLock(ctx context.Context, try func() error, failed func(error) bool) error {
	delay := lockPollMin
	for {
		err := try()
		if err == nil {
			return nil
		}
		if failed(err) {
			return err
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		delay = min(2*delay, lockPollMax)
	}
}
