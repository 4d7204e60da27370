//go:build unix

package inventory

import (
	"errors"
	"io/fs"
	"path/filepath"
	"syscall"
)

func owner(fi fs.FileInfo) (uid, gid int, ok bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, 0, false
	}
	return int(st.Uid), int(st.Gid), true
}

// device is the filesystem a path is on.
func device(p string) (uint64, bool) {
	var st syscall.Stat_t
	if err := syscall.Lstat(p, &st); err != nil {
		return 0, false
	}
	return uint64(st.Dev), true
}

// pseudoMagic are the statfs types of kernel pseudo-filesystems: /proc,
// /sys and what is mounted below them hold no files of an image, and
// reading them fails (readlink /proc/1/cwd) or never ends.
var pseudoMagic = map[int64]bool{
	0x9fa0: true, 0x62656572: true, 0x27e0eb: true, 0x63677270: true, // proc, sysfs, cgroup, cgroup2
	0x64626720: true, 0x74726163: true, 0x73636673: true, 0x6165676c: true, // debugfs, tracefs, securityfs, pstore
	0xcafe4a11: true, 0x1cd1: true, 0x19800202: true, 0x62656570: true, // bpf, devpts, mqueue, configfs
	0x65735543: true, 0x42494e4d: true, 0x958458f6: true, 0xf97cff8c: true, // fusectl, binfmt_misc, hugetlbfs, selinuxfs
	0x0187: true, 0x6e736673: true, // autofs, nsfs
}

const tmpfsMagic = 0x01021994

// pseudoFilesystem says whether dir is a mount of a kernel
// pseudo-filesystem below a directory root, or the root's dev directory
// (devtmpfs, which statfs cannot tell from tmpfs).
func pseudoFilesystem(dir string, rootDev uint64) bool {
	dev, ok := device(dir)
	if !ok || dev == rootDev {
		return false
	}
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return false
	}
	magic := int64(st.Type)
	return pseudoMagic[magic] || magic == tmpfsMagic && filepath.Base(dir) == "dev"
}

// unreadableReason is an error without Go's operation prefix.
func unreadableReason(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Op + ": " + pe.Err.Error()
	}
	return err.Error()
}
