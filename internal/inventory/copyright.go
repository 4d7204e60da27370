package inventory

import (
	"bufio"
	"bytes"
	"regexp"
	"slices"
	"strings"
)

var commonLicense = regexp.MustCompile(`/usr/share/common-licenses/([A-Za-z0-9][A-Za-z0-9.+\-]*[A-Za-z0-9+])`)

// DebianCopyrightLicenses reads the licences a Debian package declares in
// its usr/share/doc/PKG/copyright file: the License: fields of a
// machine-readable (DEP-5) file, or else the common-licenses files a
// free-form file points at. Order of first appearance is kept.
func DebianCopyrightLicenses(b []byte) []string {
	var out []string
	add := func(l string) {
		l = strings.TrimSpace(l)
		if l != "" && !slices.Contains(out, l) {
			out = append(out, l)
		}
	}
	if bytes.HasPrefix(b, []byte("Format:")) {
		sc := bufio.NewScanner(bytes.NewReader(b))
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			if v, ok := strings.CutPrefix(sc.Text(), "License:"); ok {
				add(v)
			}
		}
		return out
	}
	for _, m := range commonLicense.FindAllSubmatch(b, -1) {
		add(strings.TrimSuffix(string(m[1]), "."))
	}
	return out
}
