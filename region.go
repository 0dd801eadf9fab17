package anaplan

import (
	"slices"
	"strings"

	"golang.org/x/oauth2"
)

// Region names an Anaplan data centre. Its Endpoints are the hosts the SDK
// talks to there.
type Region string

// The Anaplan data centres.
const (
	US1 Region = "US1"
	US2 Region = "US2"
	US5 Region = "US5"
	US7 Region = "US7"
	US9 Region = "US9"
	EU1 Region = "EU1"
	EU2 Region = "EU2"
	EU3 Region = "EU3"
	EU4 Region = "EU4"
	EU5 Region = "EU5"
	GB1 Region = "GB1"
	AP1 Region = "AP1"
	SG1 Region = "SG1"
	AE1 Region = "AE1"
	IN1 Region = "IN1"
	ID1 Region = "ID1"
	ME1 Region = "ME1"
	CA1 Region = "CA1"
	AU1 Region = "AU1"
)

// DefaultRegion is used when no region and no endpoints are given.
const DefaultRegion = US1

// Regions lists every known region, in a stable order.
func Regions() []Region {
	return slices.Clone(allRegions)
}

var allRegions = []Region{US1, US2, US5, US7, US9, EU1, EU2, EU3, EU4, EU5, GB1, AP1, SG1, AE1, IN1, ID1, ME1, CA1, AU1}

// Endpoints are the base URLs of the Anaplan services a Client talks to.
type Endpoints struct {
	Auth  string          // authentication service base URL, e.g. https://auth.anaplan.com
	API   string          // Integration API base URL, e.g. https://api.anaplan.com/2/0
	OAuth oauth2.Endpoint // AuthURL, TokenURL, DeviceAuthURL
}

// OAuthEndpoint returns the OAuth endpoints of an Anaplan OAuth host such as
// https://us1a.app.anaplan.com: /auth/authorize, /oauth/token and
// /oauth/device/code, with client credentials sent in the request body.
func OAuthEndpoint(base string) oauth2.Endpoint {
	base = strings.TrimRight(base, "/")
	return oauth2.Endpoint{
		AuthURL:       base + "/auth/authorize",
		TokenURL:      base + "/oauth/token",
		DeviceAuthURL: base + "/oauth/device/code",
		AuthStyle:     oauth2.AuthStyleInParams,
	}
}

// ParseRegion parses a region name, ignoring case and surrounding space.
func ParseRegion(s string) (Region, error) {
	t := strings.TrimSpace(s)
	if len(t) == 3 && t[0] < 0x80 && t[1] < 0x80 && t[2] < 0x80 { // ASCII only: no look-alike letters
		if r := Region(strings.ToUpper(t)); slices.Contains(allRegions, r) {
			return r, nil
		}
	}
	names := make([]string, len(allRegions))
	for i, r := range allRegions {
		names[i] = string(r)
	}
	return "", errorf("anaplan: unknown region %q: use one of %s", truncate(s, 16), strings.Join(names, ", "))
}

// Endpoints returns the hosts of the region.
func (r Region) Endpoints() (Endpoints, error) {
	p, err := ParseRegion(string(r))
	if err != nil {
		return Endpoints{}, err
	}
	var auth, api, oauth string
	switch p {
	case US1, US2, US5, US7, EU1, EU2, EU4, AP1:
		auth, api, oauth = "https://auth.anaplan.com", "https://api.anaplan.com/2/0", "https://us1a.app.anaplan.com"
	case CA1:
		auth, api, oauth = "https://ca1a.auth.anaplan.com", "https://ca1a.api.anaplan.com/2/0", "https://ca1a.app.anaplan.com"
	case AU1:
		auth, api, oauth = "https://au1a.app2.anaplan.com", "https://api.au1a.app2.anaplan.com/2/0", "https://au1a.app2.anaplan.com"
	default:
		l := strings.ToLower(string(p))
		auth, api, oauth = "https://"+l+".auth.anaplan.com", "https://"+l+".api.anaplan.com/2/0", "https://"+l+".app.anaplan.com"
	}
	return Endpoints{Auth: auth, API: api, OAuth: OAuthEndpoint(oauth)}, nil
}

// truncate shortens s for an error message (region names are not secret, but
// a caller may pass anything).
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
