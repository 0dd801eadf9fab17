// Package anaplantest runs a fake Anaplan on a loopback TLS server, for tests
// that must not touch the network.
//
// One Server plays every Anaplan host at once: the authentication service
// (Basic and CA-certificate sign-in, token refresh, validate and logout), the
// OAuth service (authorization code with PKCE, refresh with optional
// rotation, device grant) and the Integration API (/2/0). It follows Anaplan's
// wire format as described in the SDK's notes, verifies certificate
// signatures for real, and keeps its own clock, so that expiry is tested by
// moving the clock rather than by sleeping.
//
// A typical test:
//
//	func TestWhoAmI(t *testing.T) {
//		srv := anaplantest.New(t) // closed when the test ends
//		srv.AddUser("ada@example.com", "secret")
//
//		c, err := anaplan.New(ctx,
//			anaplan.WithEndpoints(srv.Endpoints()),
//			anaplan.WithHTTPClient(srv.Client()),
//			anaplan.WithBasic("ada@example.com", "secret"))
//		...
//		srv.Advance(36 * time.Minute) // every token issued so far has expired
//		srv.FailNext(1, anaplantest.Fault{Status: 429, RetryAfter: "1"})
//		...
//		if n := srv.Calls("POST /token/authenticate"); n != 1 { ... }
//	}
//
// OAuth clients are registered with AddOAuthClient. GET /auth/authorize
// approves at once for the OAuth user (SetOAuthUser) and redirects with a
// code; the device grant is approved with ApproveDevice or by fetching its
// verification_uri_complete; IssueOAuthTokens seeds a grant without either.
// Rotating clients get single-use refresh tokens, and presenting a used one
// revokes the whole grant (see GrantRevocations and RefreshTokenUses).
//
// The clock starts at the real time when the server is created and then stands
// still: only SetNow and Advance move it. Every expiry, certificate validity
// and nonce timestamp check uses it.
//
// Tests that bring their own tokens use TokenSource (or IssueToken) with
// anaplan.WithTokenSource: no sign-in request at all. Tasks answer
// IN_PROGRESS for TaskBehaviour.Polls polls; SetInstantTasks completes every
// task at its first poll, so that code running actions is tested in
// milliseconds (or pass the SDK RunOptions{PollInterval: time.Millisecond}).
//
// Every method is safe for concurrent use.
package anaplantest
