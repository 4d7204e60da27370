package inventory

import (
	"bufio"
	"bytes"
	"regexp"
	"strings"

	"bulwark.dev/bulwark/internal/sbom"
)

// ParseOSRelease parses the KEY=VALUE lines of an os-release file.
func ParseOSRelease(b []byte) map[string]string {
	out := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		v = strings.TrimSpace(v)
		if len(v) >= 2 && (v[0] == '"' || v[0] == '\'') && v[len(v)-1] == v[0] {
			v = shellUnescape.Replace(v[1 : len(v)-1])
		}
		out[strings.TrimSpace(k)] = v
	}
	return out
}

// shellUnescape undoes the backslash escapes os-release(5) allows.
var shellUnescape = strings.NewReplacer(`\\`, `\`, `\"`, `"`, `\$`, `$`, "\\`", "`")

var redhatRelease = regexp.MustCompile(`^(.*?) release ([0-9][0-9.]*)`)

// DetectOS identifies the operating system from the final content of the
// well-known release files, or returns nil.
func DetectOS(facts map[string][]byte) *sbom.OS {
	var o *sbom.OS
	for _, f := range []string{"etc/os-release", "usr/lib/os-release"} {
		if b, ok := facts[f]; ok {
			kv := ParseOSRelease(b)
			if kv["ID"] == "" {
				continue
			}
			o = &sbom.OS{ID: strings.ToLower(kv["ID"]), VersionID: kv["VERSION_ID"], Codename: kv["VERSION_CODENAME"],
				PrettyName: kv["PRETTY_NAME"], File: f}
			o.Family = familyOf(o.ID, strings.Fields(strings.ToLower(kv["ID_LIKE"])))
			break
		}
	}
	if b, ok := facts["etc/alpine-release"]; ok {
		v := strings.TrimSpace(string(b))
		if o == nil {
			o = &sbom.OS{ID: "alpine", Family: "alpine", File: "etc/alpine-release"}
		}
		if o.ID == "alpine" && v != "" {
			o.VersionID = v
		}
	}
	if b, ok := facts["etc/debian_version"]; ok && o == nil {
		v := strings.TrimSpace(string(b))
		o = &sbom.OS{ID: "debian", Family: "debian", File: "etc/debian_version"}
		if major, _, _ := strings.Cut(v, "."); isDigits(major) {
			o.VersionID = major
		} else {
			o.Codename = strings.TrimSuffix(v, "/sid")
		}
	}
	if o == nil {
		for _, f := range []string{"etc/redhat-release", "etc/system-release"} {
			if m := redhatRelease.FindStringSubmatch(strings.TrimSpace(string(facts[f]))); m != nil {
				id := "rhel"
				switch n := strings.ToLower(m[1]); {
				case strings.HasPrefix(n, "centos"):
					id = "centos"
				case strings.HasPrefix(n, "fedora"):
					id = "fedora"
				case strings.HasPrefix(n, "rocky"):
					id = "rocky"
				case strings.HasPrefix(n, "almalinux"):
					id = "almalinux"
				case strings.HasPrefix(n, "amazon"):
					id = "amzn"
				}
				o = &sbom.OS{ID: id, VersionID: m[2], PrettyName: strings.TrimSpace(string(facts[f])), Family: "rhel", File: f}
				break
			}
		}
	}
	return o
}

var knownFamilies = []string{"alpine", "debian", "ubuntu", "rhel", "fedora", "suse", "arch"}

func familyOf(id string, like []string) string {
	switch id {
	case "alpine", "debian", "rhel", "fedora", "arch":
		return id
	case "ubuntu":
		return "debian"
	case "centos", "rocky", "almalinux", "ol", "amzn", "mariner", "azurelinux":
		return "rhel"
	case "sles", "opensuse-leap", "opensuse-tumbleweed", "sle-micro":
		return "suse"
	case "wolfi", "chainguard":
		return "wolfi"
	}
	for _, l := range like {
		for _, k := range knownFamilies {
			if l == k {
				if l == "ubuntu" {
					return "debian"
				}
				return l
			}
		}
	}
	return id
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}
