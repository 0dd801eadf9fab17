package anaplan

import (
	"context"
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
