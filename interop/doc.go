// Package interop tests the SDK against third-party servers (the example
// OpenID provider of github.com/zitadel/oidc: code flow with PKCE, rotating
// refresh tokens, the device grant). It is a module of its own so that users
// of github.com/go-anaplan/anaplan never inherit those servers' dependencies.
package interop
