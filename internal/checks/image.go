package checks

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"

	"bulwark.dev/bulwark/internal/sbom"
	"bulwark.dev/bulwark/internal/severity"
)

// TargetImage checks run on an image: its configuration, history and
// the notable files of its flattened filesystem.
const TargetImage = "image"

// ImageState is what image checks read; `bulwark check image` builds it
// from the same inventory `bulwark sbom` takes.
type ImageState struct {
	Ref    string            `json:"ref"`
	Config *sbom.ImageConfig `json:"config,omitempty"`
	OS     *sbom.OS          `json:"os,omitempty"`
	// History lists the layers' created_by entries.
	History []string `json:"history,omitempty"`
	// Files are the setuid and setgid files, package manager caches and
	// shells of the final filesystem.
	Files    []ImageFile `json:"files,omitempty"`
	Packages int         `json:"packages"`
}

// ImageFile is a notable file of an image.
type ImageFile struct {
	Path string      `json:"path"`
	Mode fs.FileMode `json:"mode"`
	Size int64       `json:"size,omitempty"`
}

// ParseImageState reads a saved image state.
func ParseImageState(name string, b []byte) ([]*Object, error) {
	var st ImageState
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("image state %s: %w", name, err)
	}
	return []*Object{ImageObject(&st)}, nil
}

// ImageObject wraps an image state for the engine.
func ImageObject(st *ImageState) *Object {
	return &Object{File: st.Ref, Line: 1, Kind: "Image", Name: st.Ref, image: st}
}

// cacheDirs are package manager caches that should not ship.
var cacheDirs = []string{"var/cache/apt/archives", "var/lib/apt/lists", "var/cache/apk", "var/cache/yum", "var/cache/dnf",
	"var/cache/libdnf5", "root/.cache/pip", "root/.npm/_cacache", "usr/local/share/.cache/yarn"}

// NotableFile says whether the image checks need to see a file.
func NotableFile(p string, mode fs.FileMode) bool {
	if mode&(fs.ModeSetuid|fs.ModeSetgid) != 0 {
		return true
	}
	switch p {
	case "bin/sh", "bin/bash", "bin/busybox", "usr/bin/apt", "usr/bin/apt-get", "usr/bin/dpkg", "sbin/apk", "usr/bin/yum", "usr/bin/dnf", "usr/bin/rpm":
		return true
	}
	for _, d := range cacheDirs {
		if strings.HasPrefix(p, d+"/") && path.Base(p) != "lock" && path.Base(p) != "partial" {
			return true
		}
	}
	return false
}

func isImage(o *Object) bool { return o.image != nil }

func checkImageUser(_ *Env, o *Object) []Failure {
	u := ""
	if o.image.Config != nil {
		u = o.image.Config.User
	}
	if u == "" || isRootUser(u) {
		return one("the image runs as root (config user %q)", u)
	}
	return nil
}

func checkImageEnvSecrets(_ *Env, o *Object) []Failure {
	if o.image.Config == nil {
		return nil
	}
	var names []string
	for _, kv := range o.image.Config.Env {
		k, v, _ := strings.Cut(kv, "=")
		if secretKey().MatchString(k) && v != "" {
			names = append(names, k)
		}
	}
	if len(names) > 0 {
		return one("environment variables %s carry secret values in the image configuration", strings.Join(names, ", "))
	}
	return nil
}

func checkImageSetuid(_ *Env, o *Object) []Failure {
	var files []string
	for _, f := range o.image.Files {
		if f.Mode&(fs.ModeSetuid|fs.ModeSetgid) != 0 {
			files = append(files, "/"+f.Path)
		}
	}
	if len(files) == 0 {
		return nil
	}
	sort.Strings(files)
	msg := fmt.Sprintf("%d setuid/setgid file(s): %s", len(files), strings.Join(firstN(files, 10), ", "))
	if len(files) > 10 {
		msg += ", ..."
	}
	return one("%s", msg)
}

func firstN(s []string, n int) []string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

func checkImageCaches(_ *Env, o *Object) []Failure {
	found := map[string]int{}
	for _, f := range o.image.Files {
		for _, d := range cacheDirs {
			if strings.HasPrefix(f.Path, d+"/") {
				found[d]++
			}
		}
	}
	if len(found) == 0 {
		return nil
	}
	var dirs []string
	for d, n := range found {
		dirs = append(dirs, fmt.Sprintf("/%s (%d files)", d, n))
	}
	sort.Strings(dirs)
	return one("package manager caches left in the image: %s", strings.Join(dirs, ", "))
}

func checkImageHealthcheck(_ *Env, o *Object) []Failure {
	if c := o.image.Config; c == nil || len(c.Healthcheck) == 0 || (len(c.Healthcheck) == 1 && c.Healthcheck[0] == "NONE") {
		return one("the image declares no HEALTHCHECK")
	}
	return nil
}

// checkImageBase judges minimality from the filesystem: an image with a
// shell and a package manager on a general-purpose distribution is not
// minimal; scratch, distroless (no shell), Alpine and Wolfi are.
func checkImageBase(_ *Env, o *Object) []Failure {
	st := o.image
	if st.OS == nil {
		return nil // scratch or an unknown base without OS files
	}
	switch st.OS.ID {
	case "alpine", "wolfi", "chainguard":
		return nil
	}
	shell, pm := false, ""
	for _, f := range st.Files {
		switch f.Path {
		case "bin/sh", "bin/bash", "bin/busybox":
			shell = true
		case "usr/bin/apt-get", "usr/bin/apt", "usr/bin/dpkg", "usr/bin/yum", "usr/bin/dnf", "usr/bin/rpm":
			pm = "/" + f.Path
		}
	}
	if !shell && pm == "" {
		return nil // distroless-style
	}
	if st.OS.ID == "rhel" && strings.Contains(st.OS.PrettyName, "Micro") {
		return nil
	}
	name := st.OS.PrettyName
	if name == "" {
		name = st.OS.ID + " " + st.OS.VersionID
	}
	return one("based on %s with a shell and a package manager (%s): prefer distroless, Alpine, Wolfi or scratch", name, pm)
}

// adminPorts should not be exposed by application images.
var adminPorts = map[string]string{"22": "SSH", "23": "telnet", "2375": "Docker API", "2376": "Docker API", "3389": "RDP", "5900": "VNC"}

// exposedAdminPorts lists the administration ports among exposed ports
// ("22", "22/tcp"), named: the image check and the Dockerfile check are
// one rule over two inputs.
func exposedAdminPorts(ports []string) []string {
	var bad []string
	for _, p := range ports {
		num, _, _ := strings.Cut(p, "/")
		if what, ok := adminPorts[num]; ok {
			bad = append(bad, p+" ("+what+")")
		}
	}
	return bad
}

func checkImagePorts(_ *Env, o *Object) []Failure {
	if o.image.Config == nil {
		return nil
	}
	if bad := exposedAdminPorts(o.image.Config.ExposedPorts); len(bad) > 0 {
		return one("exposes remote administration ports %s", strings.Join(bad, ", "))
	}
	return nil
}

func hardenedImage() *ImageState {
	return &ImageState{Ref: "registry.example.com/web:1.4.2",
		Config: &sbom.ImageConfig{User: "65532", Env: []string{"PATH=/usr/bin"}, ExposedPorts: []string{"8080/tcp"},
			Healthcheck: []string{"CMD", "/app", "health"}},
		OS:    &sbom.OS{ID: "debian", VersionID: "12", PrettyName: "Distroless"},
		Files: nil, Packages: 5}
}

func imageExample(edit func(*ImageState)) string {
	st := hardenedImage()
	if edit != nil {
		edit(st)
	}
	b, _ := json.MarshalIndent(st, "", "  ")
	return string(b)
}

func imageChecks() []*Check {
	good := imageExample(nil)
	return []*Check{
		{ID: "BW-IMG-001", Title: "Images must not run as root", Severity: severity.High, Target: TargetImage,
			Description: "An image without a non-root USER runs as root wherever the runtime does not override it.",
			Remediation: "Set USER to a non-root UID in the final stage.",
			Good:        good, Bad: imageExample(func(s *ImageState) { s.Config.User = "" }),
			applies: isImage, check: checkImageUser},
		{ID: "BW-IMG-002", Title: "Image environment must not carry secrets", Severity: severity.Critical, Target: TargetImage,
			Description: "ENV values are part of the image configuration: anyone who pulls the image reads them.",
			Remediation: "Rebuild without the ENV; pass secrets at run time.",
			Good:        good, Bad: imageExample(func(s *ImageState) { s.Config.Env = append(s.Config.Env, "DB_PASSWORD=hunter2") }),
			applies: isImage, check: checkImageEnvSecrets},
		{ID: "BW-IMG-003", Title: "Images should not contain setuid or setgid files", Severity: severity.Medium, Target: TargetImage,
			Description: "setuid and setgid binaries are the usual way from a compromised process to root inside the container.",
			Remediation: "Remove the files or their special bits (chmod a-s) in the Dockerfile, or use a distroless base.",
			Good:        good, Bad: imageExample(func(s *ImageState) { s.Files = []ImageFile{{Path: "usr/bin/passwd", Mode: 0o755 | fs.ModeSetuid}} }),
			applies: isImage, check: checkImageSetuid},
		{ID: "BW-IMG-004", Title: "Images must not ship package manager caches", Severity: severity.Low, Target: TargetImage,
			Description: "Package lists and downloaded archives bloat the image and reveal its build sources.",
			Remediation: "Clean caches in the same RUN that installs (rm -rf /var/lib/apt/lists/*, apk add --no-cache, yum clean all).",
			Good:        good, Bad: imageExample(func(s *ImageState) {
				s.Files = []ImageFile{{Path: "var/lib/apt/lists/deb.debian.org_debian_dists_bookworm_InRelease", Mode: 0o644}}
			}),
			applies: isImage, check: checkImageCaches},
		{ID: "BW-IMG-005", Title: "Images should declare a HEALTHCHECK", Severity: severity.Low, Target: TargetImage,
			Description: "Without a health check the runtime cannot tell a hung container from a working one.",
			Remediation: "Add HEALTHCHECK CMD ... to the final stage (Kubernetes uses probes instead).",
			Good:        good, Bad: imageExample(func(s *ImageState) { s.Config.Healthcheck = nil }),
			applies: isImage, check: checkImageHealthcheck},
		{ID: "BW-IMG-006", Title: "Images should be built on a minimal base", Severity: severity.Low, Target: TargetImage,
			Description: "A shell and a package manager help an attacker and carry packages that need patching.",
			Remediation: "Rebuild on distroless, Alpine, Wolfi/Chainguard, UBI micro or scratch.",
			Good:        good, Bad: imageExample(func(s *ImageState) {
				s.OS = &sbom.OS{ID: "debian", VersionID: "12", PrettyName: "Debian GNU/Linux 12 (bookworm)"}
				s.Files = []ImageFile{{Path: "bin/sh", Mode: 0o755}, {Path: "usr/bin/apt-get", Mode: 0o755}}
			}),
			applies: isImage, check: checkImageBase},
		{ID: "BW-IMG-007", Title: "Images must not expose remote administration ports", Severity: severity.High, Target: TargetImage,
			Description: "An exposed SSH, telnet, Docker API, RDP or VNC port means a remote shell into the container.",
			Remediation: "Remove the EXPOSE and the daemon; use kubectl exec or docker exec for debugging.",
			Good:        good, Bad: imageExample(func(s *ImageState) { s.Config.ExposedPorts = append(s.Config.ExposedPorts, "22/tcp") }),
			applies: isImage, check: checkImagePorts},
	}
}
