package image

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"
)

// Node is one file of the flattened filesystem.
type Node struct {
	Type EntryType
	Mode fs.FileMode
	Size int64
	Link string
	UID  int
	GID  int
	// Layer is the index of the layer that last wrote the file.
	Layer int

	children map[string]struct{}
}

// Tree is the filesystem an image presents after its layers are applied in
// order, whiteouts included. Every node remembers the layer that last
// wrote it.
type Tree struct {
	nodes map[string]*Node
}

// NewTree returns an empty filesystem with only the root directory.
func NewTree() *Tree {
	return &Tree{nodes: map[string]*Node{"": {Type: TypeDir, Mode: 0o755, Layer: -1}}}
}

// Len is the number of files and directories, the root excluded.
func (t *Tree) Len() int { return len(t.nodes) - 1 }

// Get returns the node at p without resolving symlinks.
func (t *Tree) Get(p string) (*Node, bool) {
	n, ok := t.nodes[p]
	return n, ok
}

// Apply adds one entry of layer index to the tree. Entries must come in
// layer order. It refuses entries whose parent path runs through a
// symlink: a real runtime would write through the link, and a reader that
// followed it could be steered outside the root.
func (t *Tree) Apply(layer int, e *Entry) error {
	switch e.Type {
	case TypeWhiteout:
		t.remove(e.Path)
		return nil
	case TypeOpaque:
		n, ok := t.nodes[e.Path]
		if !ok {
			t.mkdirs(e.Path, layer)
			return nil
		}
		for c := range n.children {
			cp := path.Join(e.Path, c)
			if cn := t.nodes[cp]; cn != nil && cn.Layer < layer {
				t.remove(cp)
			}
		}
		return nil
	}
	dir := parentOf(e.Path)
	if err := t.mkdirs(dir, layer); err != nil {
		return fmt.Errorf("entry %q: %w", e.Path, err)
	}
	old, exists := t.nodes[e.Path]
	if exists && old.Type == TypeDir && e.Type == TypeDir {
		old.Mode, old.UID, old.GID, old.Layer = e.Mode, e.UID, e.GID, layer
		return nil
	}
	if exists {
		t.remove(e.Path)
	}
	n := &Node{Type: e.Type, Mode: e.Mode, Size: e.Size, Link: e.Link, UID: e.UID, GID: e.GID, Layer: layer}
	if e.Type == TypeHardlink {
		if tn, ok := t.nodes[e.Link]; ok && tn.Type == TypeFile {
			n.Size = tn.Size
		}
	}
	t.nodes[e.Path] = n
	t.nodes[dir].addChild(path.Base(e.Path))
	return nil
}

func (n *Node) addChild(name string) {
	if n.children == nil {
		n.children = map[string]struct{}{}
	}
	n.children[name] = struct{}{}
}

func parentOf(p string) string {
	if i := strings.LastIndexByte(p, '/'); i >= 0 {
		return p[:i]
	}
	return ""
}

// mkdirs makes sure every component of dir exists as a directory.
func (t *Tree) mkdirs(dir string, layer int) error {
	if dir == "" {
		return nil
	}
	n, ok := t.nodes[dir]
	if ok {
		switch n.Type {
		case TypeDir:
			return nil
		case TypeSymlink:
			return fmt.Errorf("%w: the path runs through the symlink %q", ErrHostile, dir)
		default:
			// A file replaced by a directory implicitly, as tar would.
			t.remove(dir)
		}
	}
	if err := t.mkdirs(parentOf(dir), layer); err != nil {
		return err
	}
	t.nodes[dir] = &Node{Type: TypeDir, Mode: 0o755, Layer: layer}
	t.nodes[parentOf(dir)].addChild(path.Base(dir))
	return nil
}

func (t *Tree) remove(p string) {
	n, ok := t.nodes[p]
	if !ok || p == "" {
		return
	}
	for c := range n.children {
		t.remove(path.Join(p, c))
	}
	delete(t.nodes, p)
	if parent := t.nodes[parentOf(p)]; parent != nil {
		delete(parent.children, path.Base(p))
	}
}

// Walk calls fn for every node in lexical path order.
func (t *Tree) Walk(fn func(p string, n *Node) error) error {
	paths := make([]string, 0, len(t.nodes))
	for p := range t.nodes {
		if p != "" {
			paths = append(paths, p)
		}
	}
	sort.Strings(paths)
	for _, p := range paths {
		if err := fn(p, t.nodes[p]); err != nil {
			return err
		}
	}
	return nil
}

// ErrLoop is returned, wrapped, when symlinks point at each other.
var ErrLoop = errors.New("too many levels of symbolic links")

// Resolve follows symlinks in p inside the image root, as a chroot would:
// absolute targets start at the image root, never at the host's. It
// returns the path of the final non-symlink node.
func (t *Tree) Resolve(p string) (string, *Node, error) {
	const maxHops = 40
	hops := 0
	var resolved []string
	rest := strings.Split(strings.Trim(p, "/"), "/")
	for len(rest) > 0 {
		c := rest[0]
		rest = rest[1:]
		switch c {
		case "", ".":
			continue
		case "..":
			if len(resolved) > 0 {
				resolved = resolved[:len(resolved)-1]
			}
			continue
		}
		cur := strings.Join(append(resolved, c), "/")
		n, ok := t.nodes[cur]
		if !ok {
			return "", nil, fmt.Errorf("%s: %w", p, fs.ErrNotExist)
		}
		if n.Type != TypeSymlink {
			resolved = append(resolved, c)
			continue
		}
		if hops++; hops > maxHops {
			return "", nil, fmt.Errorf("%s: %w", p, ErrLoop)
		}
		target := strings.Split(n.Link, "/")
		if path.IsAbs(n.Link) {
			resolved = resolved[:0]
		}
		rest = append(target, rest...)
	}
	final := strings.Join(resolved, "/")
	return final, t.nodes[final], nil
}
