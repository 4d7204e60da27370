package server

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
)

// prepareDataDir makes the data directory private (0700 when bulwark
// creates it, or finds it empty) and refuses one with data that others
// can read: it holds the
// database with the token signing secret and the password hashes, the
// audit signing key and the blobs of refused images. A SQLite database is
// created 0600 before the driver opens it (the driver would use 0644, and
// its -wal and -shm files take the database's mode), and refused when it
// exists with a wider mode.
func prepareDataDir(dir, sqlitePath string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("--data %s: %w", dir, err)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("--data %s: %w", dir, err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		if empty, err := isEmpty(dir); err == nil && empty {
			// A directory made for bulwark (mkdir, a volume) that holds
			// nothing yet is made private; one with data is refused.
			if err := os.Chmod(dir, 0o700); err != nil {
				return fmt.Errorf("--data %s: %w", dir, err)
			}
			return createPrivate(sqlitePath)
		}
		return fmt.Errorf("--data %s is open to other users (mode %04o): it holds the token secret, password hashes and the audit key; make it private with: chmod 700 %s", dir, fi.Mode().Perm(), dir)
	}
	if sqlitePath == "" {
		return nil
	}
	for _, p := range []string{sqlitePath, sqlitePath + "-wal", sqlitePath + "-shm"} {
		fi, err := os.Stat(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return err
		}
		if fi.Mode().Perm()&0o077 != 0 {
			return fmt.Errorf("the database %s is readable by other users (mode %04o): it holds the token secret and password hashes; make it private with: chmod 600 %s %s-wal %s-shm", p, fi.Mode().Perm(), sqlitePath, sqlitePath, sqlitePath)
		}
	}
	return createPrivate(sqlitePath)
}

// createPrivate creates the SQLite file 0600 if it does not exist yet.
func createPrivate(sqlitePath string) error {
	if sqlitePath == "" {
		return nil
	}
	f, err := os.OpenFile(sqlitePath, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return fmt.Errorf("database %s: %w", sqlitePath, err)
	}
	return f.Close()
}

func isEmpty(dir string) (bool, error) {
	f, err := os.Open(dir)
	if err != nil {
		return false, err
	}
	defer f.Close()
	names, err := f.Readdirnames(1)
	return len(names) == 0 && (err == nil || errors.Is(err, io.EOF)), nil
}
