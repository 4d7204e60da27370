package registry

import (
	"regexp"
	"strings"
	"testing"
)

// The spec's grammars as regular expressions, the reference the
// hand-written validators must agree with.
var (
	specTag    = regexp.MustCompile(`^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$`)
	specDigest = regexp.MustCompile(`^(sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128})$`)
	specUpload = regexp.MustCompile(`^[a-f0-9]{32}$`)
)

func agree(t *testing.T, s string) {
	if got, want := validTag(s), specTag.MatchString(s); got != want {
		t.Errorf("validTag(%q) = %v, the grammar says %v", s, got, want)
	}
	if got, want := validDigest(s), specDigest.MatchString(s); got != want {
		t.Errorf("validDigest(%q) = %v, the grammar says %v", s, got, want)
	}
	if got, want := lowerHex(s, 32), specUpload.MatchString(s); got != want {
		t.Errorf("lowerHex(%q, 32) = %v, the grammar says %v", s, got, want)
	}
}

func TestGrammarsAgree(t *testing.T) {
	h64, h128 := strings.Repeat("a1", 32), strings.Repeat("0f", 64)
	for _, s := range []string{"", "v1", "_x", ".x", "-x", "latest", "V1.2.3-rc_1", strings.Repeat("a", 128), strings.Repeat("a", 129),
		"a/b", "a b", "ü", "sha256:" + h64, "sha256:" + h128, "sha512:" + h128, "sha512:" + h64, "SHA256:" + h64, "sha256:" + strings.ToUpper(h64),
		"sha256:" + h64 + "\n", "md5:" + h64[:32], h64[:32], strings.ToUpper(h64[:32]), h64[:31] + "g"} {
		agree(t, s)
	}
}

func FuzzGrammarsAgree(f *testing.F) {
	f.Add("v1.0")
	f.Add("sha256:" + strings.Repeat("a", 64))
	f.Fuzz(agree)
}
