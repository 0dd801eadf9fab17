package anaplan_test

import (
	"context"
	"crypto"
	"crypto/x509"
	"log/slog"
	"net/http"
	"time"

	"github.com/go-anaplan/anaplan"
	"golang.org/x/oauth2"
)

// The public contract of ../shared/API.md, checked by the compiler: every
// name with its exact signature. Programs outside this repository are
// written against these; this file fails to build if one changes.
var (
	_ func(context.Context, ...anaplan.Option) (*anaplan.Client, error) = anaplan.New
	_ func(*anaplan.Client) *http.Client                                = (*anaplan.Client).HTTPClient
	_ func(*anaplan.Client, context.Context) (*anaplan.Token, error)    = (*anaplan.Client).Token
	_ func(*anaplan.Client) anaplan.TokenSource                         = (*anaplan.Client).TokenSource
	_ func(*anaplan.Client) anaplan.Endpoints                           = (*anaplan.Client).Endpoints
	_ func(*anaplan.Client, context.Context) error                      = (*anaplan.Client).Close

	_ func(string) anaplan.Option                                            = anaplan.FromConnectionString
	_ func(string, string) anaplan.Option                                    = anaplan.WithBasic
	_ func(*x509.Certificate, crypto.Signer) anaplan.Option                  = anaplan.WithCertificate
	_ func(anaplan.OAuthConfig) anaplan.Option                               = anaplan.WithOAuth
	_ func(anaplan.TokenSource) anaplan.Option                               = anaplan.WithTokenSource
	_ func(anaplan.SettingsStore) anaplan.Option                             = anaplan.WithSettingsStore
	_ func(anaplan.Region) anaplan.Option                                    = anaplan.WithRegion
	_ func(anaplan.Endpoints) anaplan.Option                                 = anaplan.WithEndpoints
	_ func(*http.Client) anaplan.Option                                      = anaplan.WithHTTPClient
	_ func(*slog.Logger) anaplan.Option                                      = anaplan.WithLogger
	_ func(string) anaplan.Option                                            = anaplan.WithUserAgent
	_ func([]byte, []byte, string) (*x509.Certificate, crypto.Signer, error) = anaplan.LoadPEM
	_ func([]byte, string) (*x509.Certificate, crypto.Signer, error)         = anaplan.LoadPKCS12

	_ anaplan.TokenSource = anaplan.TokenSourceFunc(nil)

	_ func(anaplan.OAuthConfig, anaplan.Endpoints) *oauth2.Config = anaplan.OAuth2Config

	_ anaplan.SettingsStore                                                = (*anaplan.FileStore)(nil)
	_ anaplan.Locker                                                       = (*anaplan.FileStore)(nil)
	_ anaplan.SettingsStore                                                = (*anaplan.MemoryStore)(nil)
	_ anaplan.Locker                                                       = (*anaplan.MemoryStore)(nil)
	_ func(string, []byte) *anaplan.FileStore                              = anaplan.NewFileStore
	_ func() *anaplan.MemoryStore                                          = anaplan.NewMemoryStore
	_ func(string, string) []byte                                          = anaplan.SettingsKey
	_ func(*anaplan.FileStore, context.Context) (*anaplan.Settings, error) = (*anaplan.FileStore).Load
	_ func(*anaplan.FileStore, context.Context, *anaplan.Settings) error   = (*anaplan.FileStore).Save
	_ func(*anaplan.FileStore, context.Context) (func(), error)            = (*anaplan.FileStore).Lock

	_ func(string) (anaplan.Region, error)            = anaplan.ParseRegion
	_ func(anaplan.Region) (anaplan.Endpoints, error) = anaplan.Region.Endpoints
	_ func(string) (map[string]string, error)         = anaplan.ParseConnectionString
	_                                                 = []anaplan.Region{anaplan.US1, anaplan.US2, anaplan.US5, anaplan.US7, anaplan.US9, anaplan.EU1, anaplan.EU2, anaplan.EU3, anaplan.EU4, anaplan.EU5,
		anaplan.GB1, anaplan.AP1, anaplan.SG1, anaplan.AE1, anaplan.IN1, anaplan.ID1, anaplan.ME1, anaplan.CA1, anaplan.AU1}
	_ = []anaplan.InitiateOAuth{anaplan.InitiateOff, anaplan.InitiateRefresh, anaplan.InitiateGetAndRefresh}
	_ = []error{anaplan.ErrUnauthorized, anaplan.ErrInteractionRequired, anaplan.ErrNoSettings, &anaplan.APIError{}, &anaplan.ConnectionStringError{}}

	_ = anaplan.Token{Value: "", Type: "", Expiry: time.Time{}}
	_ = anaplan.Settings{AccessToken: "", RefreshToken: "", TokenType: "", Expiry: time.Time{}, ClientID: ""}
	_ = anaplan.Endpoints{Auth: "", API: "", OAuth: oauth2.Endpoint{}}
	_ = anaplan.APIError{StatusCode: 0, Code: "", Message: "", Method: "", URL: ""}
	_ = anaplan.ConnectionStringError{Offset: 0, Key: "", Reason: ""}
	_ = anaplan.OAuthConfig{
		ClientID: "", ClientSecret: "", CallbackURL: "", Scopes: nil, Initiate: anaplan.InitiateOff,
		AccessToken: "", RefreshToken: "", Expiry: time.Time{}, Verifier: "",
		OpenURL:        func(ctx context.Context, url string) error { return nil },
		ShowDeviceCode: func(ctx context.Context, d *oauth2.DeviceAuthResponse) error { return nil },
	}
)
