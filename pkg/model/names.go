package model

import "k8s.io/apimachinery/pkg/util/validation"

// The API's validators match names with regular expressions, and a full
// build checks every Service's namespace, name and port names: over a
// tenth of its time at 10,000 Services. A name that is plainly a DNS-1123
// label passes without them; any other gets the API's own verdict and
// message.

// labelErrors returns validation.IsDNS1123Label's errors for s.
func labelErrors(s string) []string {
	if isDNS1123Label(s) {
		return nil
	}
	return validation.IsDNS1123Label(s)
}

// subdomainErrors returns validation.IsDNS1123Subdomain's errors for s:
// a DNS-1123 label is also a subdomain.
func subdomainErrors(s string) []string {
	if isDNS1123Label(s) {
		return nil
	}
	return validation.IsDNS1123Subdomain(s)
}

// isDNS1123Label reports whether s is 1 to 63 lower-case letters, digits
// and '-', starting and ending with a letter or digit.
func isDNS1123Label(s string) bool {
	if len(s) == 0 || len(s) > validation.DNS1123LabelMaxLength {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		alnum := 'a' <= c && c <= 'z' || '0' <= c && c <= '9'
		if !alnum && (c != '-' || i == 0 || i == len(s)-1) {
			return false
		}
	}
	return true
}
