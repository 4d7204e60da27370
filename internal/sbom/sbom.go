// Package sbom holds bulwark's software inventory model: what was scanned,
// which operating system it runs, which packages it contains and where each
// one came from. It is a leaf package: catalogers produce a Document,
// reporters render it, matchers read it.
package sbom

import "time"

// SchemaVersion is the version of bulwark's own JSON rendering of a
// Document. It changes only when a field is renamed or removed.
const SchemaVersion = "1"

// Document is the inventory of one scanned artifact.
type Document struct {
	SchemaVersion string    `json:"schemaVersion"`
	Tool          Tool      `json:"tool"`
	Source        Source    `json:"source"`
	OS            *OS       `json:"os,omitempty"`
	Packages      []Package `json:"packages"`
	// Status lists what a cataloger could not parse; the scan carried on.
	Status []Status `json:"status,omitempty"`
}

// Tool names the program that produced a document.
type Tool struct {
	Name    string `json:"name"`
	Version string `json:"version"`
}

// Source describes the scanned artifact.
type Source struct {
	// Ref is the reference as the user typed it.
	Ref string `json:"ref"`
	// Kind is the source kind: registry, oci, oci-archive, docker-archive,
	// docker, dir, or an SBOM format when the document was read from one.
	Kind string `json:"kind"`
	// Name is the repository or path without tag or digest.
	Name string `json:"name,omitempty"`
	Tag  string `json:"tag,omitempty"`
	// Digest is the manifest digest, when the source has a manifest.
	Digest string `json:"digest,omitempty"`
	// ImageID is the digest of the image configuration.
	ImageID  string    `json:"imageID,omitempty"`
	Platform string    `json:"platform,omitempty"`
	Created  time.Time `json:"created,omitzero"`
	Layers   []Layer   `json:"layers,omitempty"`
	// Config carries the parts of the image configuration later checks need.
	Config *ImageConfig `json:"config,omitempty"`
}

// ImageConfig is the runtime part of an image configuration.
type ImageConfig struct {
	User         string            `json:"user,omitempty"`
	Env          []string          `json:"env,omitempty"`
	Entrypoint   []string          `json:"entrypoint,omitempty"`
	Cmd          []string          `json:"cmd,omitempty"`
	WorkingDir   string            `json:"workingDir,omitempty"`
	ExposedPorts []string          `json:"exposedPorts,omitempty"`
	Healthcheck  []string          `json:"healthcheck,omitempty"`
	Labels       map[string]string `json:"labels,omitempty"`
}

// Layer identifies one filesystem layer of an image.
type Layer struct {
	Index int `json:"index"`
	// DiffID is the digest of the uncompressed layer.
	DiffID string `json:"diffID"`
	// Digest is the digest of the layer as stored, when known.
	Digest    string `json:"digest,omitempty"`
	MediaType string `json:"mediaType,omitempty"`
	Size      int64  `json:"size,omitempty"`
	// CreatedBy is the history entry that produced the layer.
	CreatedBy string `json:"createdBy,omitempty"`
}

// OS is the detected operating system of an image or root filesystem.
type OS struct {
	// ID is os-release's ID: alpine, debian, ubuntu, rhel, amzn, ...
	ID string `json:"id"`
	// VersionID is os-release's VERSION_ID (for Alpine the full release
	// from etc/alpine-release, for Debian the point release when known).
	VersionID  string `json:"versionID,omitempty"`
	Codename   string `json:"codename,omitempty"`
	PrettyName string `json:"prettyName,omitempty"`
	// Family is the ID or, for derivatives, the first known ID_LIKE.
	Family string `json:"family,omitempty"`
	// EOL is the end of the release's security support, when known.
	EOL *time.Time `json:"eol,omitempty"`
	// EOLPassed is set when EOL is before the scan time.
	EOLPassed bool `json:"eolPassed,omitempty"`
	// File is where the OS was read from.
	File string `json:"file,omitempty"`
}

// Package types, as used in package URLs where one exists.
const (
	TypeAPK    = "apk"
	TypeDeb    = "deb"
	TypeRPM    = "rpm"
	TypeGo     = "golang"
	TypeNPM    = "npm"
	TypePyPI   = "pypi"
	TypeMaven  = "maven"
	TypeBinary = "binary"
)

// Package is one installed software package.
type Package struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	// Type is one of the Type constants.
	Type string `json:"type"`
	// PURL is the package URL (package-url spec) with distro qualifiers.
	PURL string `json:"purl,omitempty"`
	// Namespace is the Maven group, the npm scope-less namespace or the
	// distro vendor; it feeds the PURL.
	Namespace string `json:"namespace,omitempty"`
	// SourceName and SourceVersion name the source package (dpkg Source,
	// apk origin, source RPM) advisories are written against.
	SourceName    string `json:"sourceName,omitempty"`
	SourceVersion string `json:"sourceVersion,omitempty"`
	Arch          string `json:"arch,omitempty"`
	// Epoch is the RPM epoch, when set.
	Epoch    *int     `json:"epoch,omitempty"`
	Licenses []string `json:"licenses,omitempty"`
	// Cataloger is the name of the cataloger that found the package.
	Cataloger string `json:"cataloger"`
	// Locations are the files the package was read from.
	Locations []Location `json:"locations"`
	// Layer is the layer that introduced the package, when known.
	Layer *LayerRef `json:"layer,omitempty"`
	// Replace is the module a Go dependency was replaced by, if any.
	Replace string `json:"replace,omitempty"`
	// Main marks the main module of a Go binary.
	Main bool `json:"main,omitempty"`
}

// Location is a file in the scanned artifact.
type Location struct {
	Path string `json:"path"`
	// Layer is the layer that last wrote the file, when the source has
	// layers.
	Layer *LayerRef `json:"layer,omitempty"`
}

// LayerRef points at one layer of the source.
type LayerRef struct {
	Index  int    `json:"index"`
	DiffID string `json:"diffID"`
}

// Status reports a file a cataloger could not read.
type Status struct {
	Cataloger string `json:"cataloger"`
	Path      string `json:"path"`
	Error     string `json:"error"`
}
