package inventory

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"bulwark.dev/bulwark/internal/image"
	"bulwark.dev/bulwark/internal/sbom"
)

// DefaultMaxFileSize is the largest file handed to a cataloger.
const DefaultMaxFileSize = 512 << 20

// maxFactSize caps the small files kept for OS detection and later checks.
const maxFactSize = 64 << 10

// factFiles are small files kept verbatim: OS identification and the user
// databases later checks read.
var factFiles = map[string]bool{
	"etc/os-release":     true,
	"usr/lib/os-release": true,
	"etc/alpine-release": true,
	"etc/debian_version": true,
	"etc/redhat-release": true,
	"etc/system-release": true,
	"etc/lsb-release":    true,
	"etc/passwd":         true,
	"etc/group":          true,
}

// maxCopyrightSize caps the Debian copyright files kept for licences.
const maxCopyrightSize = 512 << 10

// isFact reports whether a file is kept verbatim: the fact files above and
// Debian's per-package copyright files, where dpkg packages declare their
// licences.
func isFact(p string, size int64) bool {
	if factFiles[p] {
		return size <= maxFactSize
	}
	return size <= maxCopyrightSize && strings.HasPrefix(p, "usr/share/doc/") &&
		strings.HasSuffix(p, "/copyright") && strings.Count(p, "/") == 4
}

// Progress receives progress of long work. Implementations draw on a
// terminal; nil means no progress.
type Progress interface {
	// Start announces total units of work.
	Start(label string, total int64)
	Add(n int64)
	Done()
}

// Scanner builds inventories. Its zero value is not usable: set
// Extractors (usually catalog.All()).
type Scanner struct {
	Extractors []Extractor
	// Cache stores per-layer results by diff ID; nil disables it.
	Cache       *Cache
	Limits      image.Limits
	MaxFileSize int64
	// TempDir is where the private scratch directory is made.
	TempDir  string
	Logger   *slog.Logger
	Progress Progress
	// Now is the clock used to judge end-of-life dates.
	Now  func() time.Time
	Tool sbom.Tool
	// EOL is the end-of-life table; nil means the embedded one.
	EOL *EOLTable
	// HashExecutables hashes every executable for the file index
	// (Result.Hashes), which only drift detection reads: the server sets
	// it, the CLI's SBOMs and scans do not pay for it.
	HashExecutables bool
	// ExtractTimeout is each cataloger's time budget for a file of the
	// given size (default: 10 s plus 2 s per MiB, at most 2 minutes).
	ExtractTimeout func(size int64) time.Duration
}

// Result is an inventory and the filesystem it was taken from.
type Result struct {
	Doc  *sbom.Document
	Tree *image.Tree
	// Facts holds the final content of small well-known files
	// (etc/os-release, etc/passwd, ...), by path.
	Facts map[string][]byte
	// Hashes are the SHA-256 of the executables of the final filesystem,
	// by path (files over --max-file-size are not hashed).
	Hashes map[string]string
}

// layerResult is what one layer contributes; it is what the cache stores.
type layerResult struct {
	Format  int               `json:"format"`
	DiffID  string            `json:"diffID"`
	Entries []image.Entry     `json:"entries"`
	Files   []fileResult      `json:"files,omitempty"`
	Facts   map[string][]byte `json:"facts,omitempty"`
	// Unreadable lists entries of a directory root that could not be
	// read; the walk goes on without them.
	Unreadable []sbom.Status `json:"unreadable,omitempty"`

	// Hashes are the SHA-256 of the layer's executables, by path, when
	// Hashed (a result cached without them is redone for a scanner that
	// wants them).
	Hashes map[string]string `json:"hashes,omitempty"`
	Hashed bool              `json:"hashed,omitempty"`

	// overBudget: a cataloger went over a budget, so the result is not
	// cached.
	overBudget bool
}

func (r *layerResult) addHash(p string, sum []byte) {
	if r.Hashes == nil {
		r.Hashes = map[string]string{}
	}
	r.Hashes[p] = hex.EncodeToString(sum)
}

type fileResult struct {
	Path      string         `json:"path"`
	Cataloger string         `json:"cataloger"`
	Packages  []sbom.Package `json:"packages,omitempty"`
	Error     string         `json:"error,omitempty"`
}

func (s *Scanner) logger() *slog.Logger {
	if s.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return s.Logger
}

func (s *Scanner) maxFileSize() int64 {
	if s.MaxFileSize <= 0 {
		return DefaultMaxFileSize
	}
	return s.MaxFileSize
}

// Scan inventories an opened image or root filesystem.
func (s *Scanner) Scan(ctx context.Context, img *image.Image) (*Result, error) {
	if len(s.Extractors) == 0 {
		return nil, errors.New("inventory: no extractors configured")
	}
	scratch, err := os.MkdirTemp(s.TempDir, "bulwark-scan-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(scratch)

	var results []*layerResult
	if img.Dir != "" {
		r, err := s.scanDir(ctx, img.Dir, scratch)
		if err != nil {
			return nil, err
		}
		results = []*layerResult{r}
	} else if results, err = s.scanLayers(ctx, img, scratch); err != nil {
		return nil, err
	}
	return s.assemble(img, results)
}

func (s *Scanner) scanLayers(ctx context.Context, img *image.Image, scratch string) ([]*layerResult, error) {
	results := make([]*layerResult, len(img.Layers))
	var todo []*image.Layer
	var total int64
	for i, l := range img.Layers {
		if r := s.Cache.get(l.DiffID); r != nil && (r.Hashed || !s.HashExecutables) {
			s.logger().Debug("layer cache hit", "layer", i, "diffID", l.DiffID)
			results[i] = r
			continue
		}
		todo = append(todo, l)
		if l.Size > 0 {
			total += l.Size
		}
	}
	if len(todo) == 0 {
		return results, nil
	}
	if s.Progress != nil {
		s.Progress.Start(fmt.Sprintf("reading %d layer(s)", len(todo)), total)
		defer s.Progress.Done()
	}
	budget := image.NewBudget(s.Limits)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	sem := make(chan struct{}, runtime.GOMAXPROCS(0))
	errs := make([]error, len(img.Layers))
	var wg sync.WaitGroup
	for _, l := range todo {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			r, err := s.scanLayer(ctx, budget, l, scratch)
			if err != nil {
				errs[l.Index] = err
				cancel()
				return
			}
			results[l.Index] = r
			if r.overBudget {
				return // a budget may be met on a later, less busy run
			}
			if err := s.Cache.put(r); err != nil {
				s.logger().Warn("layer cache write failed", "diffID", l.DiffID, "err", err)
			}
		}()
	}
	wg.Wait()
	// Report the first real failure, not the cancellations it caused.
	for _, err := range errs {
		if err != nil && !errors.Is(err, context.Canceled) {
			return nil, err
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return results, nil
}

// fileJob is a file whose content a cataloger asked for.
type fileJob struct {
	path    string
	mode    fs.FileMode
	content []byte
	exts    []Extractor
	// skipped says why the file was not read; each cataloger gets a
	// status entry instead of a run.
	skipped string
}

// scanLayer reads one layer.
func (s *Scanner) scanLayer(ctx context.Context, budget *image.Budget, l *image.Layer, scratch string) (*layerResult, error) {
	res := &layerResult{Format: cacheFormat, DiffID: l.DiffID, Hashed: s.HashExecutables}
	jobs, wait := s.startExtraction(ctx, res, scratch)
	var progress func(int64)
	if s.Progress != nil {
		progress = s.Progress.Add
	}
	err := image.ReadLayer(ctx, l, image.ReadOptions{Budget: budget, Progress: progress}, func(e *image.Entry, r io.Reader) error {
		res.Entries = append(res.Entries, *e)
		if r == nil {
			return nil
		}
		return s.visit(res, jobs, e.Path, e.Mode, e.Size, func() (io.ReadCloser, error) { return io.NopCloser(r), nil })
	})
	wait()
	if err != nil {
		return nil, err
	}
	return res, nil
}

// startExtraction runs catalogers on their own goroutine so that reading
// never waits for parsing. Send files on jobs; wait closes it and returns
// once every result is in res.
func (s *Scanner) startExtraction(ctx context.Context, res *layerResult, scratch string) (jobs chan<- fileJob, wait func()) {
	ch := make(chan fileJob, 16)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for j := range ch {
			files, over := s.extract(ctx, j, scratch)
			res.Files = append(res.Files, files...)
			res.overBudget = res.overBudget || over
		}
	}()
	return ch, func() { close(ch); <-done }
}

// visit decides what to do with one regular file: keep it as a fact,
// queue it for catalogers, or skip its content. open is called only for
// files something wants. Results reach res.Files only through jobs, whose
// goroutine owns that slice.
func (s *Scanner) visit(res *layerResult, jobs chan<- fileJob, p string, mode fs.FileMode, size int64, open func() (io.ReadCloser, error)) error {
	var exts []Extractor
	for _, x := range s.Extractors {
		if x.Required(p, mode, size) {
			exts = append(exts, x)
		}
	}
	fact := isFact(p, size)
	exec := mode&0o111 != 0
	if len(exts) == 0 && !fact {
		if exec && s.HashExecutables && size <= s.maxFileSize() {
			// Executables are hashed for the file index (drift detection
			// asks whether a running binary is the image's), streaming.
			r, err := open()
			if err != nil {
				return nil
			}
			defer r.Close()
			h := sha256.New()
			if _, err := io.Copy(h, io.LimitReader(r, size)); err != nil {
				return fmt.Errorf("read %s: %w", p, err)
			}
			res.addHash(p, h.Sum(nil))
		}
		return nil
	}
	if size > s.maxFileSize() {
		if len(exts) > 0 {
			jobs <- fileJob{path: p, exts: exts, skipped: fmt.Sprintf("file is %d bytes, over the %d byte limit (--max-file-size)", size, s.maxFileSize())}
		}
		return nil
	}
	r, err := open()
	if err != nil {
		if len(exts) > 0 {
			jobs <- fileJob{path: p, exts: exts, skipped: err.Error()}
		}
		return nil
	}
	defer r.Close()
	content := make([]byte, size)
	if _, err := io.ReadFull(r, content); err != nil {
		return fmt.Errorf("read %s: %w", p, err)
	}
	if fact {
		if res.Facts == nil {
			res.Facts = map[string][]byte{}
		}
		res.Facts[p] = content
	}
	if exec && s.HashExecutables {
		sum := sha256.Sum256(content)
		res.addHash(p, sum[:])
	}
	if len(exts) > 0 {
		jobs <- fileJob{path: p, mode: mode, content: content, exts: exts}
	}
	return nil
}

func (s *Scanner) extract(ctx context.Context, j fileJob, scratch string) (out []fileResult, overBudget bool) {
	for _, x := range j.exts {
		if j.skipped != "" {
			out = append(out, fileResult{Path: j.path, Cataloger: x.Name(), Error: j.skipped})
			continue
		}
		in := &Input{Path: j.path, Mode: j.mode, Content: j.content}
		var (
			mu  sync.Mutex // a cataloger abandoned over its budget may still ask
			dir string
		)
		in.tempDir = func() (string, error) {
			mu.Lock()
			defer mu.Unlock()
			if dir == "" {
				d, err := os.MkdirTemp(scratch, "x-")
				if err != nil {
					return "", err
				}
				dir = d
			}
			return dir, nil
		}
		budget := s.ExtractTimeout
		if budget == nil {
			budget = extractTimeBudget
		}
		pkgs, err := safeExtract(ctx, x, in, budget)
		mu.Lock()
		if dir != "" {
			os.RemoveAll(dir)
		}
		mu.Unlock()
		fr := fileResult{Path: j.path, Cataloger: x.Name(), Packages: pkgs}
		if errors.Is(err, ErrBudget) {
			overBudget = true
		}
		if err != nil {
			fr.Error = err.Error()
			s.logger().Debug("cataloger failed", "cataloger", x.Name(), "path", j.path, "err", err)
		}
		for i := range fr.Packages {
			p := &fr.Packages[i]
			p.Cataloger = x.Name()
			if len(p.Locations) == 0 {
				p.Locations = []sbom.Location{{Path: j.path}}
			}
		}
		if fr.Error != "" || len(fr.Packages) > 0 {
			out = append(out, fr)
		}
	}
	return out, overBudget
}

// safeExtract runs a cataloger on one file within budgets derived from
// the file's size, so that no input, however hostile, can hang or sink a
// scan: a time budget (the cataloger's context ends then, and a cataloger
// that does not stop is abandoned, its file reported), an output budget
// (no more packages than the input could describe) and panic recovery.
// What goes over a budget becomes a status entry naming the cataloger.
func safeExtract(ctx context.Context, x Extractor, in *Input, timeBudget func(int64) time.Duration) ([]sbom.Package, error) {
	budget := timeBudget(int64(len(in.Content)))
	ctx, cancel := context.WithTimeout(ctx, budget)
	defer cancel()
	type result struct {
		pkgs []sbom.Package
		err  error
	}
	done := make(chan result, 1)
	go func() {
		defer func() {
			if r := recover(); r != nil {
				done <- result{nil, fmt.Errorf("cataloger panicked: %v", r)}
			}
		}()
		pkgs, err := x.Extract(ctx, in)
		done <- result{pkgs, err}
	}()
	var r result
	select {
	case r = <-done:
	case <-ctx.Done():
		if err := ctx.Err(); errors.Is(err, context.DeadlineExceeded) {
			return nil, fmt.Errorf("%w: the %s cataloger took longer than its %s budget for a %d-byte file; the file was skipped", ErrBudget, x.Name(), budget, len(in.Content))
		}
		return nil, ctx.Err()
	}
	if max := maxPackagesFor(int64(len(in.Content))); len(r.pkgs) > max {
		return r.pkgs[:max], fmt.Errorf("%w: the %s cataloger reported %d packages, more than a %d-byte file can describe; the first %d are kept", ErrBudget, x.Name(), len(r.pkgs), len(in.Content), max)
	}
	return r.pkgs, r.err
}

// ErrBudget marks a cataloger that went over a budget on one file.
var ErrBudget = errors.New("over budget")

// extractTimeBudget is 10 s plus 2 s per MiB, at most 2 minutes: real
// package databases parse in milliseconds per MiB.
func extractTimeBudget(size int64) time.Duration {
	d := 10*time.Second + time.Duration(size>>20)*2*time.Second
	return min(d, 2*time.Minute)
}

// maxPackagesFor bounds a cataloger's output: every package record takes
// more than 32 bytes of its input.
func maxPackagesFor(size int64) int {
	return 10000 + int(size/32)
}

// scanDir walks a root filesystem without following symlinks.
func (s *Scanner) scanDir(ctx context.Context, root, scratch string) (*layerResult, error) {
	res := &layerResult{Format: cacheFormat, Hashed: s.HashExecutables}
	jobs, wait := s.startExtraction(ctx, res, scratch)
	var files int64
	rootDev, _ := device(root)
	skip := func(fp, rel string, d fs.DirEntry, err error) error {
		res.Unreadable = append(res.Unreadable, sbom.Status{Cataloger: "filesystem", Path: filepath.ToSlash(rel), Error: unreadableReason(err)})
		if d != nil && d.IsDir() {
			return fs.SkipDir
		}
		return nil
	}
	err := filepath.WalkDir(root, func(fp string, d fs.DirEntry, err error) error {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return ctxErr
		}
		rel, rerr := filepath.Rel(root, fp)
		if rerr != nil {
			return rerr
		}
		if err != nil {
			if rel == "." {
				return err // the root itself: nothing to scan
			}
			return skip(fp, rel, d, err)
		}
		if rel == "." {
			return nil
		}
		if d.IsDir() && pseudoFilesystem(fp, rootDev) {
			return fs.SkipDir // /proc, /sys, /dev of a live root: not files of the image
		}
		if files++; files > limitOr(s.Limits.MaxFiles, image.DefaultLimits.MaxFiles) {
			return fmt.Errorf("%w: more than %d files under %s", image.ErrLimit, files-1, root)
		}
		p := filepath.ToSlash(rel)
		info, err := d.Info()
		if err != nil {
			return skip(fp, rel, d, err)
		}
		e := image.Entry{Path: p, Mode: info.Mode().Perm() | info.Mode()&(fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky)}
		if uid, gid, ok := owner(info); ok {
			e.UID, e.GID = uid, gid
		}
		switch {
		case d.IsDir():
			e.Type = image.TypeDir
		case d.Type()&fs.ModeSymlink != 0:
			e.Type = image.TypeSymlink
			if e.Link, err = os.Readlink(fp); err != nil {
				return skip(fp, rel, d, err)
			}
		case d.Type().IsRegular():
			e.Type, e.Size = image.TypeFile, info.Size()
		default:
			return nil // devices, sockets and FIFOs of a live root filesystem
		}
		res.Entries = append(res.Entries, e)
		if e.Type != image.TypeFile {
			return nil
		}
		if err := s.visit(res, jobs, p, e.Mode, e.Size, func() (io.ReadCloser, error) { return os.Open(fp) }); err != nil {
			return skip(fp, rel, d, err) // a live file that changed while it was read
		}
		return nil
	})
	wait()
	if err != nil {
		return nil, fmt.Errorf("walk %s: %w", root, err)
	}
	return res, nil
}

func limitOr(v, def int64) int64 {
	if v <= 0 {
		return def
	}
	return v
}

// assemble merges per-layer results into the final inventory.
func (s *Scanner) assemble(img *image.Image, results []*layerResult) (*Result, error) {
	tree := image.NewTree()
	for i, r := range results {
		for j := range r.Entries {
			if err := tree.Apply(i, &r.Entries[j]); err != nil {
				return nil, fmt.Errorf("layer %d (%s): %w", i, r.DiffID, err)
			}
		}
	}
	layered := img.Dir == ""
	layerRef := func(i int) *sbom.LayerRef {
		if !layered || i < 0 || i >= len(results) {
			return nil
		}
		return &sbom.LayerRef{Index: i, DiffID: results[i].DiffID}
	}

	// Facts: the content of the version of each file that survived,
	// found through symlinks inside the image.
	factAt := func(p string) ([]byte, bool) {
		real, n, err := tree.Resolve(p)
		if err != nil || n == nil || n.Type != image.TypeFile {
			return nil, false
		}
		c, ok := results[n.Layer].Facts[real]
		return c, ok
	}
	facts := map[string][]byte{}
	for p := range factFiles {
		if c, ok := factAt(p); ok {
			facts[p] = c
		}
	}

	// Packages of the files that survived, each attributed to the
	// earliest layer from which the same file kept listing it.
	type occ struct {
		layer int
		fr    *fileResult
	}
	history := map[string][]occ{}
	for i, r := range results {
		for j := range r.Files {
			fr := &r.Files[j]
			k := fr.Cataloger + "\x00" + fr.Path
			history[k] = append(history[k], occ{i, fr})
		}
	}
	keys := make([]string, 0, len(history))
	for k := range history {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var pkgs []sbom.Package
	var status []sbom.Status
	for _, r := range results {
		status = append(status, r.Unreadable...)
	}
	for _, k := range keys {
		h := history[k]
		last := h[len(h)-1]
		_, n, ok := tree.Lookup(last.fr.Path)
		if !ok || n.Layer != last.layer || n.Type != image.TypeFile {
			continue // overwritten or deleted by a later layer
		}
		if last.fr.Error != "" {
			status = append(status, sbom.Status{Cataloger: last.fr.Cataloger, Path: last.fr.Path, Error: last.fr.Error})
		}
		for _, p := range last.fr.Packages {
			intro := last.layer
			for j := len(h) - 2; j >= 0 && containsPkg(h[j].fr.Packages, p); j-- {
				intro = h[j].layer
			}
			p.Layer = layerRef(intro)
			for i := range p.Locations {
				p.Locations[i].Layer = layerRef(last.layer)
			}
			pkgs = append(pkgs, p)
		}
	}

	osInfo := DetectOS(facts)
	if osInfo != nil {
		s.eol().Annotate(osInfo, s.now())
	}
	pkgs = dedupe(pkgs)
	for i := range pkgs {
		p := &pkgs[i]
		if p.Type == sbom.TypeDeb && len(p.Licenses) == 0 {
			if c, ok := factAt("usr/share/doc/" + p.Name + "/copyright"); ok {
				p.Licenses = DebianCopyrightLicenses(c)
			}
		}
		p.PURL = PURL(p, osInfo)
	}
	sortPackages(pkgs)
	doc := &sbom.Document{
		SchemaVersion: sbom.SchemaVersion,
		Tool:          s.Tool,
		Source:        sourceOf(img),
		OS:            osInfo,
		Packages:      pkgs,
		Status:        status,
	}
	if doc.Packages == nil {
		doc.Packages = []sbom.Package{}
	}
	hashes := map[string]string{}
	for i, r := range results {
		for p, h := range r.Hashes {
			if rp, n, ok := tree.Lookup(p); ok && n.Layer == i && n.Type == image.TypeFile {
				hashes[rp] = h
			}
		}
	}
	return &Result{Doc: doc, Tree: tree, Facts: facts, Hashes: hashes}, nil
}

func (s *Scanner) now() time.Time {
	if s.Now == nil {
		return time.Now()
	}
	return s.Now()
}

func (s *Scanner) eol() *EOLTable {
	if s.EOL == nil {
		return DefaultEOL()
	}
	return s.EOL
}

func pkgKey(p *sbom.Package) string {
	return strings.Join([]string{p.Type, p.Namespace, p.Name, p.Version, p.Arch}, "\x00")
}

func containsPkg(list []sbom.Package, p sbom.Package) bool {
	k := pkgKey(&p)
	for i := range list {
		if pkgKey(&list[i]) == k {
			return true
		}
	}
	return false
}

// dedupe merges the same package found in several files (a language
// package both in node_modules and in a lock file) into one entry with
// all its locations and the earliest introducing layer.
func dedupe(pkgs []sbom.Package) []sbom.Package {
	idx := map[string]int{}
	var out []sbom.Package
	for _, p := range pkgs {
		k := p.Cataloger + "\x00" + pkgKey(&p)
		if p.Type == sbom.TypeGo {
			// Each Go binary is its own component.
			k += "\x00" + p.Locations[0].Path
		}
		i, ok := idx[k]
		if !ok {
			idx[k] = len(out)
			out = append(out, p)
			continue
		}
		q := &out[i]
		q.Locations = append(q.Locations, p.Locations...)
		if p.Layer != nil && (q.Layer == nil || p.Layer.Index < q.Layer.Index) {
			q.Layer = p.Layer
		}
		for _, l := range p.Licenses {
			if !slices.Contains(q.Licenses, l) {
				q.Licenses = append(q.Licenses, l)
			}
		}
	}
	for i := range out {
		sort.Slice(out[i].Locations, func(a, b int) bool { return out[i].Locations[a].Path < out[i].Locations[b].Path })
	}
	return out
}

func sortPackages(pkgs []sbom.Package) {
	sort.SliceStable(pkgs, func(i, j int) bool {
		a, b := &pkgs[i], &pkgs[j]
		if a.Type != b.Type {
			return a.Type < b.Type
		}
		if a.Name != b.Name {
			return a.Name < b.Name
		}
		if a.Version != b.Version {
			return a.Version < b.Version
		}
		return a.Locations[0].Path < b.Locations[0].Path
	})
}

func sourceOf(img *image.Image) sbom.Source {
	src := sbom.Source{
		Ref:      img.Ref.Raw,
		Kind:     string(img.Ref.Kind),
		Name:     img.Name,
		Tag:      img.Tag,
		Digest:   img.Digest,
		ImageID:  img.ID,
		Platform: img.Platform,
		Created:  img.Created(),
	}
	for _, l := range img.Layers {
		src.Layers = append(src.Layers, sbom.Layer{Index: l.Index, DiffID: l.DiffID, Digest: l.Digest,
			MediaType: l.MediaType, Size: l.Size, CreatedBy: l.CreatedBy})
	}
	if c := img.Config; c != nil {
		ic := &sbom.ImageConfig{User: c.Config.User, Env: c.Config.Env, Entrypoint: c.Config.Entrypoint,
			Cmd: c.Config.Cmd, WorkingDir: c.Config.WorkingDir, Labels: c.Config.Labels}
		for p := range c.Config.ExposedPorts {
			ic.ExposedPorts = append(ic.ExposedPorts, p)
		}
		sort.Strings(ic.ExposedPorts)
		if c.Config.Healthcheck != nil {
			ic.Healthcheck = c.Config.Healthcheck.Test
		}
		src.Config = ic
	}
	return src
}

// Dir returns a private directory for parsers that need a real file
// (database engines); it is removed once the extractor returns.
func (in *Input) Dir() (string, error) {
	if in.tempDir == nil {
		return "", errors.New("no temporary directory available")
	}
	return in.tempDir()
}
