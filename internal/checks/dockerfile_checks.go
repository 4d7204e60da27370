package checks

import (
	"regexp"
	"strings"

	"bulwark.dev/bulwark/internal/dockerfile"
)

func isDockerfile(o *Object) bool { return o.dockerfile != nil }

// lastUser is the image's effective user: the last USER of the final
// stage, else of the stage it is built FROM, and the line that set it.
func lastUser(d *dockerfile.File) (string, int) {
	for _, s := range shippedStages(d) {
		user, line := "", 0
		for _, in := range s.Instructions {
			if in.Cmd == "user" && len(in.Args) > 0 {
				user, line = in.Args[0], in.Line
			}
		}
		if user != "" {
			return user, line
		}
	}
	return "", 0
}

func isRootUser(u string) bool {
	name, _, _ := strings.Cut(u, ":")
	return name == "root" || name == "0"
}

func checkDockerUser(_ *Env, o *Object) []Failure {
	d := o.dockerfile
	u, line := lastUser(d)
	switch {
	case u == "":
		return []Failure{failf(d.Final().Line, "the final stage sets no USER: the container runs as root")}
	case isRootUser(u):
		return []Failure{failf(line, "the last USER is %s", u)}
	}
	return nil
}

// minimalBase lists base images that count as minimal.
var minimalBase = lazyRE(`(?i)^(scratch|([^/]+/)*(alpine|busybox)(:|@|$)|([^/]*/)*distroless/|cgr\.dev/|chainguard/|([^/]*/)*wolfi-base|([^/]*/)*ubi[0-9]*[-/]micro|registry\.access\.redhat\.com/ubi[0-9]+/ubi-micro|([^/]*/)*static(-debian[0-9]+)?(:|$))`)

func stageIsMinimal(d *dockerfile.File, s *dockerfile.Stage) bool {
	if p := d.ParentStage(s); p != nil {
		return stageIsMinimal(d, p)
	}
	return minimalBase().MatchString(s.From) || strings.Contains(s.From, "$")
}

func checkMinimalBase(_ *Env, o *Object) []Failure {
	d := o.dockerfile
	if f := d.Final(); !stageIsMinimal(d, f) {
		return []Failure{failf(f.Line, "the final image is based on %s, not a minimal base (scratch, distroless, Alpine, Wolfi/Chainguard, UBI micro)", f.From)}
	}
	return nil
}

var buildTools = lazyRE(`(?i)^(gcc|g\+\+|clang|make|build-essential|cmake|golang|go|rustc|cargo|maven|gradle|npm|yarn|pip|git|autoconf|automake|libtool|musl-dev|libc6?-dev|linux-headers)$`)

var (
	pkgInstall  = lazyRE(`(?i)^(apt-get|apt|apk|yum|dnf|microdnf|zypper)$`)
	installVerb = map[string]bool{"install": true, "add": true, "in": true}
	removeVerb  = map[string]bool{"del": true, "purge": true, "remove": true, "erase": true, "autoremove": true, "rm": true}
	shellSplit  = lazyRE(`;|&&|\|\||\||\n`)
)

// pkgCommand is one package manager invocation of a RUN.
type pkgCommand struct {
	manager string // apt-get, apk, ...
	remove  bool
	pkgs    []string
	// virtual is apk's --virtual (-t) group name.
	virtual string
	// autoRemove: apt-get purge/autoremove with --auto-remove or the
	// autoremove verb.
	autoRemove bool
}

// pkgCommands reads the package installs and removals of a RUN, in order,
// and whether the RUN marks everything automatic first (apt-mark auto
// '.*'), after which an autoremove purges what the RUN installed.
func pkgCommands(run string) (cmds []pkgCommand, markAllAuto []int) {
	for _, seg := range shellSplit().Split(run, -1) {
		f := withoutRedirections(strings.Fields(seg))
		xargs := false
		for len(f) > 0 && (strings.Contains(f[0], "=") || f[0] == "sudo" || f[0] == "env" || f[0] == "xargs" || xargs && strings.HasPrefix(f[0], "-")) {
			xargs = xargs || f[0] == "xargs"
			f = f[1:] // VAR=x prefixes, xargs -r
		}
		// apt-mark auto '.*', or apt-mark showmanual | xargs apt-mark auto:
		// every package becomes automatic, so an autoremove purges what
		// the RUN installed.
		if len(f) >= 2 && f[0] == "apt-mark" && f[1] == "auto" && (len(f) >= 3 && strings.Trim(f[2], `'"`) == ".*" || len(f) == 2 && xargs) {
			markAllAuto = append(markAllAuto, len(cmds))
			continue
		}
		if len(f) < 2 || !pkgInstall().MatchString(f[0]) {
			continue
		}
		c := pkgCommand{manager: strings.ToLower(f[0])}
		verb := -1
		for i := 1; i < len(f); i++ {
			if !strings.HasPrefix(f[i], "-") {
				verb = i
				break
			}
		}
		if verb < 0 || !installVerb[f[verb]] && !removeVerb[f[verb]] {
			continue
		}
		c.remove = removeVerb[f[verb]]
		c.autoRemove = f[verb] == "autoremove"
		for i := verb + 1; i < len(f); i++ {
			a := f[i]
			switch {
			case a == "--virtual" || a == "-t":
				if i+1 < len(f) {
					c.virtual = f[i+1]
					i++
				}
			case strings.HasPrefix(a, "--virtual="):
				c.virtual = strings.TrimPrefix(a, "--virtual=")
			case a == "--auto-remove" || a == "--autoremove":
				c.autoRemove = true
			case a == "-o" || a == "--option" || a == "--repository" || a == "-X":
				i++ // the option's value
			case strings.HasPrefix(a, "-"):
			default:
				c.pkgs = append(c.pkgs, strings.Trim(a, `'"\`))
			}
		}
		cmds = append(cmds, c)
	}
	return cmds, markAllAuto
}

var redirection = lazyRE(`^[0-9&]*[<>]+`)

// withoutRedirections drops "> /dev/null", "2>&1" and the like.
func withoutRedirections(f []string) []string {
	out := f[:0:0]
	for i := 0; i < len(f); i++ {
		if m := redirection().FindString(f[i]); m != "" {
			if m == f[i] && !strings.HasSuffix(m, "&") {
				i++ // the target is the next word
			}
			continue
		}
		out = append(out, f[i])
	}
	return out
}

// shippedTools lists the build tools a RUN installs and does not remove
// again: a tool removed in the same RUN (apk del of it or of its
// --virtual group, apt-get purge of it, or the official images' apt-mark
// auto '.*' ... apt-get purge --auto-remove idiom) never reaches a layer.
func shippedTools(run string) []string {
	cmds, markAllAuto := pkgCommands(run)
	var out []string
	for i, c := range cmds {
		if c.remove {
			continue
		}
		for _, p := range c.pkgs {
			if !buildTools().MatchString(p) || removedLater(cmds[i+1:], c, p) || purgedAsAuto(cmds, markAllAuto, i) {
				continue
			}
			out = append(out, p)
		}
	}
	return out
}

func removedLater(later []pkgCommand, in pkgCommand, pkg string) bool {
	for _, r := range later {
		if !r.remove || sameFamily(r.manager) != sameFamily(in.manager) {
			continue
		}
		for _, name := range r.pkgs {
			if name == pkg || in.virtual != "" && name == in.virtual {
				return true
			}
		}
	}
	return false
}

// purgedAsAuto: an apt install before "apt-mark auto '.*'" followed by an
// autoremove.
func purgedAsAuto(cmds []pkgCommand, markAllAuto []int, install int) bool {
	if sameFamily(cmds[install].manager) != "apt" {
		return false
	}
	for _, m := range markAllAuto {
		if m <= install {
			continue
		}
		for _, r := range cmds[m:] {
			if r.remove && r.autoRemove && sameFamily(r.manager) == "apt" {
				return true
			}
		}
	}
	return false
}

func sameFamily(manager string) string {
	switch manager {
	case "apt-get", "apt":
		return "apt"
	case "yum", "dnf", "microdnf":
		return "dnf"
	}
	return manager
}

func checkBuildTools(_ *Env, o *Object) []Failure {
	d := o.dockerfile
	if len(d.Stages) > 1 {
		return nil // multi-stage: build tools belong to earlier stages
	}
	var out []Failure
	for _, in := range d.Final().Instructions {
		if in.Cmd != "run" {
			continue
		}
		if tools := shippedTools(strings.Join(in.Args, " ")); len(tools) > 0 {
			out = append(out, failf(in.Line, "installs the build tool %q into the final image of a single-stage build and does not remove it in the same RUN (use a multi-stage build)", tools[0]))
		}
	}
	return out
}

func checkAddURL(_ *Env, o *Object) []Failure {
	var out []Failure
	for _, s := range o.dockerfile.Stages {
		for _, in := range s.Instructions {
			if in.Cmd != "add" {
				continue
			}
			for _, a := range in.Args[:max(len(in.Args)-1, 0)] {
				if strings.HasPrefix(a, "http://") || strings.HasPrefix(a, "https://") {
					out = append(out, failf(in.Line, "ADD fetches %s: unverified download (use curl with a checksum, or ADD --checksum)", a))
				}
			}
		}
	}
	return out
}

var pipeToShell = lazyRE(`(?i)\b(curl|wget)\b[^|;&]*\|\s*(sudo\s+)?(ba|z|da)?sh\b`)

func checkCurlPipe(_ *Env, o *Object) []Failure {
	var out []Failure
	for _, s := range o.dockerfile.Stages {
		for _, in := range s.Instructions {
			if in.Cmd == "run" && pipeToShell().MatchString(strings.Join(in.Args, " ")) {
				out = append(out, failf(in.Line, "pipes a download straight into a shell"))
			}
		}
	}
	return out
}

var (
	aptInstall = lazyRE(`\b(apt-get|apt|aptitude)\s+(-\S+\s+)*install\b`)
	aptClean   = lazyRE(`rm\s+-[a-zA-Z]*\s+/var/lib/apt/lists`)
	apkAdd     = lazyRE(`\bapk\s+(-\S+\s+)*add\b`)
	apkClean   = lazyRE(`--no-cache|rm\s+-[a-zA-Z]*\s+/var/cache/apk`)
	yumInstall = lazyRE(`\b(yum|dnf|dnf5|microdnf)\s+(-\S+\s+)*(groupinstall|localinstall|install|in|reinstall|rei|upgrade-minimal|up-min|upgrade|up)\b`)
	yumClean   = lazyRE(`\b(yum|dnf|dnf5|microdnf)\s+clean\s+all\b|rm\s+-[a-zA-Z]*\s+/var/cache/(yum|dnf|libdnf5)`)
	pipInstall = lazyRE(`\bpip[0-9.]*\s+(-\S+\s+)*install\b`)
	pipNoCache = lazyRE(`(?i)PIP_NO_CACHE_DIR=(\S+)`)
)

// cleanedAfter reports whether clean matches after the install match.
func cleanedAfter(cmd string, install, clean *regexp.Regexp) bool {
	loc := install.FindStringIndex(cmd)
	if loc == nil {
		return true
	}
	for _, c := range clean.FindAllStringIndex(cmd, -1) {
		if c[0] > loc[0] {
			return true
		}
	}
	return false
}

// mountedTargets lists the cache and tmpfs mount targets of a RUN: those
// directories never reach the image.
func mountedTargets(in dockerfile.Instruction) []string {
	var out []string
	for _, f := range in.Flags {
		if !strings.HasPrefix(f, "--mount=") || !(strings.Contains(f, "type=cache") || strings.Contains(f, "type=tmpfs")) {
			continue
		}
		for _, kv := range strings.Split(strings.TrimPrefix(f, "--mount="), ",") {
			if k, v, ok := strings.Cut(kv, "="); ok && (k == "target" || k == "dst" || k == "destination") {
				out = append(out, strings.TrimSuffix(v, "/"))
			}
		}
	}
	return out
}

func mounted(targets []string, dirs ...string) bool {
	for _, d := range dirs {
		for _, t := range targets {
			if t == d {
				return true
			}
		}
	}
	return false
}

func truthyEnv(v string) bool {
	switch strings.ToLower(strings.Trim(v, `"'`)) {
	case "0", "false", "off", "no", "":
		return false
	}
	return true
}

// shippedStages are the final stage and the stages it is built FROM:
// their files are in the image.
func shippedStages(d *dockerfile.File) []*dockerfile.Stage {
	var out []*dockerfile.Stage
	s := d.Final()
	for depth := 0; s != nil && depth < len(d.Stages); depth++ {
		out = append(out, s)
		var parent *dockerfile.Stage
		if s.FromStage {
			for _, p := range d.Stages {
				if p != s && strings.EqualFold(p.Name, s.From) {
					parent = p
				}
			}
		}
		s = parent
	}
	return out
}

// checkPackageCache flags package installs whose caches end up in the
// image: in the final stage or a stage it is built from.
func checkPackageCache(_ *Env, o *Object) []Failure {
	var out []Failure
	for _, st := range shippedStages(o.dockerfile) {
		pipEnv := false
		for _, in := range st.Instructions {
			if in.Cmd == "env" {
				for i := 0; i+1 < len(in.Args); i += 2 {
					if strings.EqualFold(in.Args[i], "PIP_NO_CACHE_DIR") {
						pipEnv = truthyEnv(in.Args[i+1])
					}
				}
			}
			if in.Cmd != "run" {
				continue
			}
			cmd := strings.Join(in.Args, " ")
			mounts := mountedTargets(in)
			switch {
			case aptInstall().MatchString(cmd) && !cleanedAfter(cmd, aptInstall(), aptClean()) &&
				!(mounted(mounts, "/var/cache/apt") && mounted(mounts, "/var/lib/apt", "/var/lib/apt/lists")):
				out = append(out, failf(in.Line, "apt install without removing /var/lib/apt/lists/* (or cache mounts of /var/cache/apt and /var/lib/apt)"))
			case apkAdd().MatchString(cmd) && !apkClean().MatchString(cmd) && !mounted(mounts, "/var/cache/apk"):
				out = append(out, failf(in.Line, "apk add without --no-cache"))
			case yumInstall().MatchString(cmd) && !cleanedAfter(cmd, yumInstall(), yumClean()) &&
				!mounted(mounts, "/var/cache/yum", "/var/cache/dnf", "/var/cache/libdnf5"):
				out = append(out, failf(in.Line, "yum/dnf install without clean all afterwards"))
			case pipInstall().MatchString(cmd) && !strings.Contains(cmd, "--no-cache-dir") && !pipEnv &&
				!(pipNoCache().MatchString(cmd) && truthyEnv(pipNoCache().FindStringSubmatch(cmd)[1])) && !mounted(mounts, "/root/.cache/pip"):
				out = append(out, failf(in.Line, "pip install without --no-cache-dir"))
			}
		}
	}
	return out
}

var secretKey = lazyRE(`(?i)(passw(or)?d|secret|token|api_?key|private_?key|access_?key|credential)`)

// checkDockerSecrets flags ENV and ARG that carry a secret-looking name
// with a value: both end up in the image history.
func checkDockerSecrets(_ *Env, o *Object) []Failure {
	var out []Failure
	check := func(in dockerfile.Instruction) {
		switch in.Cmd {
		case "env":
			// The parser yields key, value pairs.
			for i := 0; i+1 < len(in.Args); i += 2 {
				if secretKey().MatchString(in.Args[i]) && in.Args[i+1] != "" && !strings.HasPrefix(in.Args[i+1], "$") {
					out = append(out, failf(in.Line, "ENV %s holds a secret in the image configuration", in.Args[i]))
				}
			}
		case "arg":
			for _, a := range in.Args {
				k, v, hasV := strings.Cut(a, "=")
				if secretKey().MatchString(k) {
					if hasV && v != "" {
						out = append(out, failf(in.Line, "ARG %s has a secret default value", k))
					} else {
						out = append(out, failf(in.Line, "ARG %s passes a secret at build time: it is kept in the image history (use RUN --mount=type=secret)", k))
					}
				}
			}
		}
	}
	for _, in := range o.dockerfile.Args {
		check(in)
	}
	for _, s := range o.dockerfile.Stages {
		for _, in := range s.Instructions {
			check(in)
		}
	}
	return out
}

func checkHealthcheck(_ *Env, o *Object) []Failure {
	f := o.dockerfile.Final()
	for _, in := range f.Instructions {
		if in.Cmd == "healthcheck" {
			if len(in.Args) > 0 && strings.EqualFold(in.Args[0], "none") {
				return []Failure{failf(in.Line, "HEALTHCHECK NONE disables health checking")}
			}
			return nil
		}
	}
	return []Failure{failf(f.Line, "the final stage has no HEALTHCHECK")}
}

func checkFromLatest(_ *Env, o *Object) []Failure {
	var out []Failure
	for _, s := range o.dockerfile.Stages {
		if s.FromStage || strings.EqualFold(s.From, "scratch") || strings.Contains(s.From, "$") {
			continue
		}
		tag, d := splitImage(s.From)
		if d == "" && (tag == "" || tag == "latest") {
			out = append(out, failf(s.Line, "FROM %s uses the latest tag: pin a version (and a digest)", s.From))
		}
	}
	return out
}

// checkExposeAdmin applies BW-IMG-007's rule to the Dockerfile: EXPOSE in
// the final stage and the stages it is built FROM.
func checkExposeAdmin(_ *Env, o *Object) []Failure {
	d := o.dockerfile
	var out []Failure
	for s := d.Final(); s != nil; s = d.ParentStage(s) {
		for _, in := range s.Instructions {
			if in.Cmd != "expose" {
				continue
			}
			var ports []string
			for _, a := range in.Args {
				ports = append(ports, strings.Fields(a)...)
			}
			if bad := exposedAdminPorts(ports); len(bad) > 0 {
				out = append(out, failf(in.Line, "exposes remote administration ports %s", strings.Join(bad, ", ")))
			}
		}
	}
	return out
}
