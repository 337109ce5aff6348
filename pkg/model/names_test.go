package model

import (
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/util/validation"
)

// TestNameChecksAgreeWithTheAPI checks the fast name checks against the
// API's validators: same verdict and same messages, for names around
// every edge the rules have.
func TestNameChecksAgreeWithTheAPI(t *testing.T) {
	names := []string{
		"", "a", "0", "-", "a-", "-a", "a-b", "a--b", "A", "aB", "a_b", "a.b", "a..b", ".a", "a.", "ü",
		"web", "kube-system", "a.b-c.d", strings.Repeat("a", 63), strings.Repeat("a", 64),
		strings.Repeat("a", 63) + ".b", strings.Repeat("a.", 126) + "a", strings.Repeat("a.", 127), "a\x00", "a b",
	}
	for _, name := range names {
		if got, want := labelErrors(name), validation.IsDNS1123Label(name); !slices.Equal(got, want) {
			t.Errorf("labelErrors(%q) = %q, the API says %q", name, got, want)
		}
		if got, want := subdomainErrors(name), validation.IsDNS1123Subdomain(name); !slices.Equal(got, want) {
			t.Errorf("subdomainErrors(%q) = %q, the API says %q", name, got, want)
		}
	}
}

// FuzzNameChecks holds the fast label check to the API's verdict on any
// input: it may only pass names the API passes, and must pass them all.
func FuzzNameChecks(f *testing.F) {
	for _, s := range []string{"a", "a-b", "-a", "A", strings.Repeat("z", 64)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if fast, api := isDNS1123Label(s), len(validation.IsDNS1123Label(s)) == 0; fast != api {
			t.Errorf("isDNS1123Label(%q) = %v, the API says %v", s, fast, api)
		}
	})
}
