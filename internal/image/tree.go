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
// layer order. An entry whose parent path runs through a symlink of a
// lower layer lands where the runtime would write it: at the link's
// target, resolved inside the image (the tree is in memory; nothing on
// the host is ever touched).
func (t *Tree) Apply(layer int, e *Entry) error {
	dir, err := t.resolveDir(parentOf(e.Path), layer, e.Type != TypeWhiteout)
	if err != nil {
		return fmt.Errorf("entry %q: %w", e.Path, err)
	}
	p := path.Join(dir, path.Base(e.Path))
	switch e.Type {
	case TypeWhiteout:
		t.remove(p)
		return nil
	case TypeOpaque:
		if dir, err = t.resolveDir(e.Path, layer, true); err != nil {
			return fmt.Errorf("entry %q: %w", e.Path, err)
		}
		for c := range t.nodes[dir].children {
			cp := path.Join(dir, c)
			if cn := t.nodes[cp]; cn != nil && cn.Layer < layer {
				t.remove(cp)
			}
		}
		return nil
	}
	old, exists := t.nodes[p]
	if exists && old.Type == TypeDir && e.Type == TypeDir {
		old.Mode, old.UID, old.GID, old.Layer = e.Mode, e.UID, e.GID, layer
		return nil
	}
	if exists {
		t.remove(p)
	}
	n := &Node{Type: e.Type, Mode: e.Mode, Size: e.Size, Link: e.Link, UID: e.UID, GID: e.GID, Layer: layer}
	if e.Type == TypeHardlink {
		if tn, ok := t.nodes[e.Link]; ok && tn.Type == TypeFile {
			n.Size = tn.Size
		}
	}
	t.nodes[p] = n
	t.nodes[dir].addChild(path.Base(p))
	return nil
}

// Lookup finds the node an entry of a layer wrote: at its path, or, when
// it was written through a symlinked directory, where that resolves.
func (t *Tree) Lookup(p string) (string, *Node, bool) {
	if n, ok := t.nodes[p]; ok {
		return p, n, true
	}
	dir, err := t.resolveDir(parentOf(p), 0, false)
	if err != nil {
		return "", nil, false
	}
	rp := path.Join(dir, path.Base(p))
	n, ok := t.nodes[rp]
	return rp, n, ok
}

// resolveDir follows dir chroot-style, as the kernel does when a runtime
// writes a layer inside the container's root: symlinks are followed,
// absolute ones from the image root, ".." stops at the root. With create,
// missing directories are made and a file in the way is replaced, as tar
// would; without it, the longest existing prefix is returned.
func (t *Tree) resolveDir(dir string, layer int, create bool) (string, error) {
	const maxHops = 40
	hops := 0
	var resolved []string
	rest := strings.Split(dir, "/")
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
		parent := strings.Join(resolved, "/")
		cur := path.Join(parent, c)
		n, ok := t.nodes[cur]
		switch {
		case ok && n.Type == TypeDir:
		case ok && n.Type == TypeSymlink:
			if hops++; hops > maxHops {
				return "", fmt.Errorf("%s: %w", dir, ErrLoop)
			}
			if path.IsAbs(n.Link) {
				resolved = resolved[:0]
			}
			rest = append(strings.Split(n.Link, "/"), rest...)
			continue
		case !create:
			return path.Join(parent, path.Join(append([]string{c}, rest...)...)), nil
		default:
			if ok {
				t.remove(cur) // a file where a directory is needed
			}
			t.nodes[cur] = &Node{Type: TypeDir, Mode: 0o755, Layer: layer}
			t.nodes[parent].addChild(c)
		}
		resolved = append(resolved, c)
	}
	return strings.Join(resolved, "/"), nil
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
