package anaplan

import (
	"context"
	"time"
)

// Test-only options for the external tests.

// WithClockForTest injects a clock.
func WithClockForTest(now func() time.Time) Option { return WithClock(now) }

// WithFastRetriesForTest shortens the transport's backoff.
func WithFastRetriesForTest() Option {
	return func(c *config) {
		c.retry.initial, c.retry.max = time.Millisecond, 5*time.Millisecond
	}
}

// WithSleepForTest records the transport's waits instead of sleeping.
func WithSleepForTest(f func(ctx context.Context, d time.Duration) error) Option {
	return func(c *config) { c.sleep = f }
}

// WithPromptForTest answers the terminal prompt of the paste flow.
func WithPromptForTest(p func(ctx context.Context, msg string) (string, error)) Option {
	return func(c *config) { c.prompt = p }
}

// WithOAuthOpenURLForTest sets OAuthConfig.OpenURL on an OAuth scheme chosen
// earlier (a connection string cannot carry a function).
func WithOAuthOpenURLForTest(open func(ctx context.Context, u string) error) Option {
	return func(c *config) {
		if s, ok := c.scheme.(oauthScheme); ok {
			s.cfg.OpenURL = open
			c.scheme = s
		}
	}
}

// ChunkBuffersOutForTest is the number of upload chunk buffers handed out
// and not given back, across all uploads.
func ChunkBuffersOutForTest() int64 { return chunkBuffersOut.Load() }
