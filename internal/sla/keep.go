package sla

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"bulwark.dev/bulwark/internal/severity"
)

// The kept clocks of one repository are one row: a version byte, a
// table of the distinct strings (the repository's clocks share their
// digests, tags and packages), then per clock the table indexes of its
// strings, its severity, its times (Unix milliseconds, 0 for none) and
// its lists (a count, then indexes). Reading 183,000 clocks this way is
// a fraction of reading as many rows of columns.
const keepVersion = 2

func encodeClocks(cs []Clock) []byte {
	idx := map[string]uint64{}
	var table []string
	ref := func(s string) uint64 {
		i, ok := idx[s]
		if !ok {
			i = uint64(len(table))
			idx[s] = i
			table = append(table, s)
		}
		return i
	}
	var body []byte
	list := func(l []string) {
		body = binary.AppendUvarint(body, uint64(len(l)))
		for _, s := range l {
			body = binary.AppendUvarint(body, ref(s))
		}
	}
	ms := func(t time.Time) {
		var v int64
		if !t.IsZero() {
			v = t.UnixMilli()
		}
		body = binary.AppendVarint(body, v)
	}
	for i := range cs {
		c := &cs[i]
		for _, s := range []string{c.Advisory, c.Package, c.Fixed} {
			body = binary.AppendUvarint(body, ref(s))
		}
		body = append(body, byte(c.Severity))
		ms(c.Start)
		ms(c.Stopped)
		list(c.Digests)
		list(c.Tags)
		list(c.Workloads)
	}
	b := []byte{keepVersion}
	b = binary.AppendUvarint(b, uint64(len(table)))
	for _, s := range table {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	return append(b, body...)
}

var errKept = errors.New("malformed kept clocks")

// decodeClocks appends a repository's kept clocks to out. A malformed
// row (a damaged database) is an error naming the repository, never a
// panic.
func decodeClocks(out []Clock, repo string, b []byte) ([]Clock, error) {
	fail := func(what string) ([]Clock, error) {
		return out, fmt.Errorf("%s: %w (%s): run bulwark report sla --at NOW to compute them from the history", repo, errKept, what)
	}
	if len(b) == 0 || b[0] != keepVersion {
		return fail("version")
	}
	b = b[1:]
	bad := false
	uv := func() uint64 {
		v, n := binary.Uvarint(b)
		if n <= 0 {
			bad = true
			return 0
		}
		b = b[n:]
		return v
	}
	n := uv()
	if bad || n > uint64(len(b)) {
		return fail("string table")
	}
	table := make([]string, n)
	for i := range table {
		l := uv()
		if bad || l > uint64(len(b)) {
			return fail("string table")
		}
		table[i] = string(b[:l])
		b = b[l:]
	}
	str := func() string {
		i := uv()
		if bad || i >= uint64(len(table)) {
			bad = true
			return ""
		}
		return table[i]
	}
	ms := func() time.Time {
		v, n := binary.Varint(b)
		if n <= 0 {
			bad = true
			return time.Time{}
		}
		b = b[n:]
		if v == 0 {
			return time.Time{}
		}
		return time.UnixMilli(v)
	}
	list := func() []string {
		n := uv()
		if bad || n > uint64(len(b)) {
			bad = true
			return nil
		}
		if n == 0 {
			return nil
		}
		l := make([]string, n)
		for i := range l {
			l[i] = str()
		}
		return l
	}
	project := Project(repo)
	for len(b) > 0 && !bad {
		c := Clock{Repo: repo, Project: project}
		c.Advisory, c.Package, c.Fixed = str(), str(), str()
		if bad || len(b) == 0 {
			bad = true
			break
		}
		c.Severity = severity.Level(b[0])
		b = b[1:]
		c.Start, c.Stopped = ms(), ms()
		c.Digests, c.Tags, c.Workloads = list(), list(), list()
		out = append(out, c)
	}
	if bad {
		return fail("a clock")
	}
	return out, nil
}
