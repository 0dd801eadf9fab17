package anaplan

import (
	"context"
	"crypto/rand"
	"errors"
	"strings"
	"sync"
	"time"
)

// SpendPreparer is an optional interface of a SettingsStore. A store that has
// it is asked, right before every request that spends a single-use credential
// (a rotating refresh token, an authorization code or verifier, a device
// code), whether it can take the result and by which time the spend must be
// over. With a Locker, the call is made while the lock is held and after the
// store was re-read.
//
// A non-nil error means "do not spend": the SDK sends nothing, the old
// refresh token stays valid, and the error (wrapped, naming the store) goes
// to the caller. Stores return one when their medium cannot take a write (a
// full or read-only disk), or when they no longer hold the lock they were
// asked to take (a lease that expired). A store should also make sure that
// the Save that follows cannot fail for lack of room: FileStore reserves the
// space of the next file.
//
// The deadline, when not zero, is the latest time at which the spend
// request may be sent: the SDK checks it right before every attempt and
// sends nothing after it (a lease-based lock whose lease might lapse
// otherwise). A request sent in time is awaited up to the SDK's own bound
// (45 s), so that an answer that arrives late is still saved: a store that
// needs the answer by its deadline must keep others from spending until its
// Save (etcdstore's spend fence does). A deadline less than a second away is
// a refusal. A zero deadline leaves the SDK's own bound in force.
//
// A store without SpendPreparer is written to only after the credential was
// spent: if that write fails, the tokens are kept in memory and the save is
// retried, but a process that exits before a later save succeeds loses the
// rotated refresh token, and with a rotating client the grant.
type SpendPreparer interface {
	PrepareSpend(ctx context.Context) (deadline time.Time, err error)
}

// SettingsOpener opens the SettingsStore that an OAuthSettingsLocation of a
// registered scheme names. location is the whole value (for example
// "etcd://10.0.0.1:2379/anaplan/prod"); key is the 32-byte sealing key
// (OAuthSettingsKey, or SettingsKey of the client). Its errors must not
// repeat the location, which may hold credentials. A store that also
// implements interface{ Close() error } is closed by Client.Close.
type SettingsOpener func(location string, key []byte) (SettingsStore, error)

var settingsSchemes = struct {
	sync.RWMutex
	m map[string]SettingsOpener
}{m: map[string]SettingsOpener{}}

// RegisterSettingsScheme makes OAuthSettingsLocation values of the form
// "scheme://…" open through open, in the spirit of database/sql drivers: a
// package such as github.com/go-anaplan/anaplan/etcdstore registers its
// scheme in an init function. The scheme is case-insensitive. "memory" and
// "file" are taken. Registering a scheme twice, or a nil opener, panics, as
// sql.Register does: both are programming errors found at start-up.
func RegisterSettingsScheme(scheme string, open SettingsOpener) {
	s := strings.ToLower(scheme)
	if open == nil {
		panic("anaplan: RegisterSettingsScheme: nil opener for " + s)
	}
	if s == "" || s == "memory" || s == "file" || strings.ContainsAny(s, ":/") {
		panic("anaplan: RegisterSettingsScheme: invalid or reserved scheme " + s)
	}
	settingsSchemes.Lock()
	defer settingsSchemes.Unlock()
	if _, dup := settingsSchemes.m[s]; dup {
		panic("anaplan: RegisterSettingsScheme called twice for " + s)
	}
	settingsSchemes.m[s] = open
}

// settingsSchemeOf returns the opener registered for the scheme of loc, if
// loc has the form "scheme://…" and the scheme is registered.
func settingsSchemeOf(loc string) (SettingsOpener, string, bool) {
	i := strings.Index(loc, "://")
	if i <= 0 {
		return nil, "", false
	}
	scheme := strings.ToLower(loc[:i])
	settingsSchemes.RLock()
	defer settingsSchemes.RUnlock()
	open, ok := settingsSchemes.m[scheme]
	return open, scheme, ok
}

// SealSettings returns s sealed with key (32 bytes) in the envelope FileStore
// writes: one line of JSON, AES-256-GCM, a fresh nonce each call. Stores of
// other packages use it so that a settings file and their entries are
// interchangeable.
func SealSettings(key []byte, s *Settings) ([]byte, error) {
	if s == nil {
		return nil, errors.New("anaplan: SealSettings: nil settings")
	}
	aead, err := newSettingsAEAD(key)
	if err != nil {
		return nil, err
	}
	return encodeSettingsFile(aead, rand.Reader, s)
}

// OpenSealedSettings opens what SealSettings (or FileStore) wrote. Its errors
// say whether the data is damaged, sealed with another key
// (errors.Is(err, ErrSettingsKey)) or written by a newer version.
func OpenSealedSettings(key, sealed []byte) (*Settings, error) {
	aead, err := newSettingsAEAD(key)
	if err != nil {
		return nil, err
	}
	s, err := decodeSettingsFile(sealed, aead)
	if err != nil {
		return nil, errorf("anaplan: sealed settings: %w", err)
	}
	return s, nil
}

// ErrSettingsKey is matched (errors.Is) by the errors of stores whose content
// was sealed with a different key than the one they were given.
var ErrSettingsKey = errSettingsKey
