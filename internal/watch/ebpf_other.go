//go:build linux && !amd64

package watch

import (
	"context"
	"errors"
)

// SyscallWatcher is the eBPF source, built for amd64 only: its programs
// read x86_64's registers and syscall numbers.
type SyscallWatcher struct{}

// OpenSyscallWatcher says why there is no eBPF source here.
func OpenSyscallWatcher() (*SyscallWatcher, error) {
	return nil, errors.New("ebpf: the syscall programs are built for amd64 only")
}

// Close does nothing.
func (w *SyscallWatcher) Close() error { return nil }

// Run returns at once.
func (w *SyscallWatcher) Run(ctx context.Context, fn func(SyscallEvent)) error { return nil }
