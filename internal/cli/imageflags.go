package cli

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"bulwark.dev/bulwark/internal/image"
	"bulwark.dev/bulwark/internal/inventory"
	"bulwark.dev/bulwark/internal/inventory/catalog"
	"bulwark.dev/bulwark/internal/sbom"
)

// imageFlags are the flags of every command that reads an image.
type imageFlags struct {
	platform     string
	insecure     bool
	cacheDir     string
	noCache      bool
	maxImageSize int64
	maxFiles     int64
	maxFileSize  int64
}

func (f *imageFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&f.platform, "platform", "", "platform to select from a multi-platform index, as os/arch[/variant] (default: the host's)")
	fl.BoolVar(&f.insecure, "insecure", false, "allow plain HTTP and unverified TLS for registries that are not on loopback (weakens transport security)")
	fl.StringVar(&f.cacheDir, "cache-dir", "", "layer cache directory (default: bulwark under the user cache directory)")
	fl.BoolVar(&f.noCache, "no-cache", false, "neither read nor write the layer cache")
	fl.Int64Var(&f.maxImageSize, "max-image-size", image.DefaultLimits.MaxBytes, "refuse images whose layers decompress to more bytes than this")
	fl.Int64Var(&f.maxFiles, "max-files", image.DefaultLimits.MaxFiles, "refuse images with more layer entries than this")
	fl.Int64Var(&f.maxFileSize, "max-file-size", inventory.DefaultMaxFileSize, "skip (with a status entry) files larger than this when cataloging")
}

// open parses and opens a reference and returns a scanner configured from
// the flags. The caller closes the image.
func (f *imageFlags) open(ctx context.Context, e *env, refStr string) (*image.Image, *inventory.Scanner, error) {
	ref, err := image.ParseRef(refStr)
	if err != nil {
		return nil, nil, err
	}
	img, err := image.Open(ctx, ref, image.Options{Platform: f.platform, Insecure: f.insecure})
	if err != nil {
		return nil, nil, err
	}
	if img.Notice != "" {
		fmt.Fprintln(e.stderr, "bulwark: note:", img.Notice)
	}
	exts := catalog.All()
	s := &inventory.Scanner{
		Extractors:  exts,
		Limits:      image.Limits{MaxBytes: f.maxImageSize, MaxFiles: f.maxFiles},
		MaxFileSize: f.maxFileSize,
		Logger:      e.logger,
		Tool:        sbom.Tool{Name: "bulwark", Version: Version()},
	}
	if isTerminal(e.stderr) {
		s.Progress = &progressBar{w: e.stderr}
	}
	if !f.noCache {
		dir := f.cacheDir
		if dir == "" {
			if dir, err = inventory.DefaultCacheDir(); err != nil {
				e.logger.Warn("no user cache directory; layer cache disabled", "err", err)
			}
		}
		if dir != "" {
			if s.Cache, err = inventory.OpenCache(dir, exts, s.MaxFileSize); err != nil {
				img.Close()
				return nil, nil, err
			}
		}
	}
	return img, s, nil
}

// scan opens a reference and inventories it with the flags' settings.
func (f *imageFlags) scan(ctx context.Context, e *env, refStr string) (*inventory.Result, error) {
	img, scanner, err := f.open(ctx, e, refStr)
	if err != nil {
		return nil, err
	}
	defer img.Close()
	res, err := scanner.Scan(ctx, img)
	if err != nil {
		return nil, fmt.Errorf("scan %s: %w", refStr, err)
	}
	return res, nil
}

// documentTime is the timestamp written into SBOMs: the image creation
// time, else SOURCE_DATE_EPOCH, else now.
func documentTime(e *env, doc *sbom.Document) time.Time {
	if !doc.Source.Created.IsZero() {
		return doc.Source.Created
	}
	if s := e.getenv("SOURCE_DATE_EPOCH"); s != "" {
		if n, err := strconv.ParseInt(s, 10, 64); err == nil {
			return time.Unix(n, 0).UTC()
		}
	}
	return time.Now().UTC().Truncate(time.Second)
}

// writeOutput writes to --output atomically (a temporary file in the same
// directory, renamed into place), or to stdout.
func writeOutput(e *env, path string, write func(w io.Writer) error) error {
	if path == "" || path == "-" {
		bw := bufio.NewWriterSize(e.stdout, 64<<10)
		if err := write(bw); err != nil {
			return err
		}
		return bw.Flush()
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".bulwark-out-")
	if err != nil {
		return fmt.Errorf("output %s: %w", path, err)
	}
	bw := bufio.NewWriterSize(tmp, 64<<10)
	err = write(bw)
	if err == nil {
		err = bw.Flush()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("output %s: %w", path, err)
	}
	return nil
}

// formatFlags are --format/-f and --output/-o for commands whose report
// is a table or JSON, so every command takes the same two flags.
type formatFlags struct {
	format, output string
	formats        []string
}

func (f *formatFlags) register(cmd *cobra.Command, formats ...string) {
	f.formats = formats
	cmd.Flags().StringVarP(&f.format, "format", "f", formats[0], "output format: "+strings.Join(formats, ", "))
	cmd.Flags().StringVarP(&f.output, "output", "o", "", "write to this file instead of standard output")
}

func (f *formatFlags) validate() error {
	if !slices.Contains(f.formats, f.format) {
		return fmt.Errorf("--format %q: want one of %s", f.format, strings.Join(f.formats, ", "))
	}
	return nil
}

// write renders the report to standard output or, atomically, the file.
func (f *formatFlags) write(e *env, render func(w io.Writer, format string) error) error {
	return writeOutput(e, f.output, func(w io.Writer) error { return render(w, f.format) })
}
