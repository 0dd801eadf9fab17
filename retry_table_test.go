package anaplan

import (
	"context"
	"crypto/x509"
	"errors"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"testing"
)

// TestRetryTableMatchesREADME reads the retry table of README.md and checks
// the transport's decision for every method × answer of every row.
func TestRetryTableMatchesREADME(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	text := string(readme)
	start := strings.Index(text, "<!-- retry-table")
	end := strings.Index(text, "<!-- /retry-table -->")
	if start < 0 || end < start {
		t.Fatal("README.md has no retry table between its markers")
	}
	tr := &transport{policy: defaultRetryPolicy}
	rows := 0
	for _, line := range strings.Split(text[start:end], "\n") {
		cells := strings.Split(strings.Trim(strings.TrimSpace(line), "|"), "|")
		if len(cells) != 3 || strings.Contains(line, "---") || strings.Contains(line, "method") {
			continue
		}
		want := strings.TrimSpace(cells[2]) == "yes"
		for _, method := range strings.Split(cells[0], ",") {
			method = strings.TrimSpace(method)
			for _, answer := range strings.Split(cells[1], ",") {
				answer = strings.TrimSpace(answer)
				req := requestFor(t, method)
				var resp *http.Response
				var rerr error
				switch {
				case answer == "network error":
					rerr = &url.Error{Op: "Get", URL: req.URL.String(), Err: errors.New("connection reset by peer")}
				case answer == "TLS certificate not trusted":
					rerr = &url.Error{Op: "Get", URL: req.URL.String(), Err: &x509.UnknownAuthorityError{}}
				default:
					code, err := strconv.Atoi(answer)
					if err != nil {
						t.Fatalf("README retry table: unknown answer %q", answer)
					}
					resp = &http.Response{StatusCode: code, Header: http.Header{}, Request: req}
				}
				if got := tr.retryable(req, resp, rerr); got != want {
					t.Errorf("README says %s → %s retried=%v; the transport says %v", method, answer, want, got)
				}
				rows++
			}
		}
	}
	if rows < 20 {
		t.Fatalf("only %d cases read from the README's retry table", rows)
	}
}

func requestFor(t *testing.T, method string) *http.Request {
	t.Helper()
	ctx := context.Background()
	switch method {
	case "any":
		method = http.MethodGet
	case "POST with Idempotency-Key":
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "https://api.anaplan.com/2/0/x", strings.NewReader("{}"))
		req.Header.Set("Idempotency-Key", "k")
		return req
	case "sign-in POST":
		req, _ := http.NewRequestWithContext(withRetrySafe(ctx), http.MethodPost, "https://auth.anaplan.com/token/authenticate", nil)
		return req
	}
	req, err := http.NewRequestWithContext(ctx, method, "https://api.anaplan.com/2/0/x", strings.NewReader("{}"))
	if err != nil {
		t.Fatalf("README retry table: method %q: %v", method, err)
	}
	return req
}
