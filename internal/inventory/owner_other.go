//go:build !unix

package inventory

import "io/fs"

func owner(fs.FileInfo) (uid, gid int, ok bool) { return 0, 0, false }

func device(string) (uint64, bool) { return 0, false }

func pseudoFilesystem(string, uint64) bool { return false }

func unreadableReason(err error) string { return err.Error() }
