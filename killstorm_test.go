package anaplan_test

import (
	"bytes"
	"context"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/go-anaplan/anaplan"
)

// TestOAuthKillStorm measures the window that remains (issue 7, point 4): 8
// processes share one settings file and refresh 2-second tokens through a
// token endpoint that rotates at once and answers 150 ms later, while one of
// them is SIGKILLed every ~100 ms and restarted. A kill between the server's
// rotation and the save loses the rotated refresh token; the next process
// presents the old one and the server revokes the grant. The test re-seeds a
// new grant after each revocation and reports revocations per kill. A first
// phase without kills must revoke nothing.
func TestOAuthKillStorm(t *testing.T) {
	if testing.Short() {
		t.Skip("starts child processes")
	}
	procs, control, storm := 8, 3*time.Second, 4*time.Second
	if os.Getenv("ANAPLAN_SOAK") != "" {
		storm = 30 * time.Second
	}
	f := newOAuthFake(t)
	f.SetAccessTokenTTL(2 * time.Second)
	followRealTime(t, f.Server) // the children run on real time: so does the fake

	// Every request passes straight to the fake; a token answer is held back
	// 150 ms after the fake acted on it, as on a slow network.
	fakeURL, _ := url.Parse(f.URL())
	proxy := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		u := *fakeURL
		u.Path, u.RawQuery = r.URL.Path, r.URL.RawQuery
		req, _ := http.NewRequest(r.Method, u.String(), bytes.NewReader(body))
		req.Header = r.Header.Clone()
		resp, err := f.Client().Do(req)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		answer, _ := io.ReadAll(resp.Body)
		if r.URL.Path == "/oauth/token" {
			time.Sleep(150 * time.Millisecond)
		}
		for k, v := range resp.Header {
			w.Header()[k] = v
		}
		w.WriteHeader(resp.StatusCode)
		w.Write(answer)
	}))
	defer proxy.Close()

	settings := filepath.Join(t.TempDir(), "shared-settings")
	seedStore := anaplan.NewFileStore(settings, anaplan.SettingsKey(codeClientID, codeSecret))
	ctx := context.Background()
	seed := func() {
		_, refresh, _ := f.IssueOAuthTokens(codeClientID, oauthUser)
		unlock, err := seedStore.Lock(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer unlock()
		if err := seedStore.Save(ctx, &anaplan.Settings{RefreshToken: refresh, ClientID: codeClientID}); err != nil {
			t.Fatal(err)
		}
	}
	seed()
	cs := "AuthScheme=OAuth;InitiateOAuth=REFRESH;OAuthClientId=" + codeClientID + ";OAuthClientSecret=" + codeSecret +
		";AuthURL=" + f.Endpoints().Auth + ";APIURL=" + f.Endpoints().API + ";OAuthURL=" + proxy.URL +
		";OAuthSettingsLocation='" + settings + "'"
	trust := trustFile(t, f.Server)
	start := func() *exec.Cmd {
		cmd := child(t, "soak", cs, trust, "ANAPLAN_CHILD_DURATION=1h")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd
	}
	cmds := make([]*exec.Cmd, procs)
	for i := range cmds {
		cmds[i] = start()
	}
	defer func() {
		for _, c := range cmds {
			c.Process.Kill()
			c.Wait()
		}
	}()

	// The control phase lasts until the processes have refreshed at least
	// once (a loaded machine starts them slowly), at most 20 s.
	for began := time.Now(); time.Since(began) < control || (len(f.RefreshTokenUses()) == 0 && time.Since(began) < 20*time.Second); {
		time.Sleep(50 * time.Millisecond)
	}
	if r := f.GrantRevocations(); r != 0 {
		t.Fatalf("%d grants revoked without any kill", r)
	}
	controlRefreshes := len(f.RefreshTokenUses())
	if controlRefreshes == 0 {
		t.Fatal("no refresh in the control phase: the test exercised nothing")
	}

	kills, revocations, seen := 0, 0, 0
	// The storm lasts its time and until the processes have refreshed twice
	// under it (a loaded machine restarts them slowly), at most 40 s.
	began := time.Now()
	for time.Since(began) < storm || (len(f.RefreshTokenUses())-controlRefreshes < 2 && time.Since(began) < 40*time.Second) {
		time.Sleep(time.Duration(50+rand.IntN(100)) * time.Millisecond)
		i := rand.IntN(procs)
		cmds[i].Process.Kill()
		cmds[i].Wait()
		kills++
		cmds[i] = start()
		if r := f.GrantRevocations(); r > seen {
			revocations += r - seen
			seen = r
			seed() // a new grant, as a person signing in again would make
		}
	}
	refreshes := len(f.RefreshTokenUses()) - controlRefreshes
	t.Logf("%d processes, token endpoint answering 150 ms after rotating: control %v, %d refreshes, 0 revocations; storm %v: %d SIGKILLs, %d refreshes, %d grants revoked (%.3f per kill)",
		procs, control, controlRefreshes, storm, kills, refreshes, revocations, float64(revocations)/float64(max(kills, 1)))
	if refreshes == 0 {
		t.Error("no refresh during the storm: the test exercised nothing")
	}
}
