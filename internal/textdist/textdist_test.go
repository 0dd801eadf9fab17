package textdist

import (
	"strings"
	"testing"
)

func TestDistance(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want int
	}{
		{"", "", 0}, {"abc", "abc", 0}, {"", "abc", 3}, {"Pasword", "Password", 1},
		{"Passowrd", "Password", 1}, // a swap of neighbours is one edit
		{"wohami", "whoami", 1}, {"kitten", "sitting", 3},
		{strings.Repeat("x", 65), "x", 64},
		{"region", "regoin", 1}, {"ca", "abc", 3}, {"timeout", "timeout", 0},
	} {
		if got := Distance(tc.a, tc.b); got != tc.want {
			t.Errorf("Distance(%q, %q) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
		if got := Distance(tc.b, tc.a); got != tc.want {
			t.Errorf("Distance(%q, %q) = %d, want %d (symmetry)", tc.b, tc.a, got, tc.want)
		}
	}
}

func FuzzDistance(f *testing.F) {
	f.Add("Password", "Pasword")
	f.Add("", "x")
	f.Fuzz(func(t *testing.T, a, b string) {
		d := Distance(a, b)
		if d < 0 || d > max(len(a), len(b)) && d != maxLen {
			t.Fatalf("Distance(%q, %q) = %d", a, b, d)
		}
		if (d == 0) != (a == b) && len(a) <= maxLen && len(b) <= maxLen {
			t.Fatalf("Distance(%q, %q) = %d", a, b, d)
		}
	})
}
