//go:build linux && amd64

package watch

import (
	"context"
	"errors"
	"fmt"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/cilium/ebpf/ringbuf"
)

// SyscallWatcher is the eBPF source: raw tracepoints on sys_enter and
// sys_exit that report the syscalls the process connector and fanotify
// cannot see (bpf/syscalls.c says which). It needs CAP_BPF and
// CAP_PERFMON (or root) and a kernel with raw tracepoints and ring
// buffers (5.8 or later); no kprobes, no BTF, no clang.
type SyscallWatcher struct {
	objs  syscallsObjects
	links []link.Link
	rd    *ringbuf.Reader
}

// OpenSyscallWatcher loads and attaches the programs.
func OpenSyscallWatcher() (*SyscallWatcher, error) {
	w := &SyscallWatcher{}
	if err := loadSyscallsObjects(&w.objs, nil); err != nil {
		var ve *ebpf.VerifierError
		if errors.As(err, &ve) {
			return nil, fmt.Errorf("ebpf: the kernel's verifier refused the syscall programs: %+v", ve)
		}
		return nil, fmt.Errorf("ebpf: load the syscall programs (needs CAP_BPF and CAP_PERFMON, or root): %w", err)
	}
	for _, p := range []struct {
		name string
		prog *ebpf.Program
	}{{"sys_enter", w.objs.SysEnter}, {"sys_exit", w.objs.SysExit}, {"sched_process_exec", w.objs.SchedExec}, {"sched_process_exit", w.objs.SchedExit}} {
		l, err := link.AttachRawTracepoint(link.RawTracepointOptions{Name: p.name, Program: p.prog})
		if err != nil {
			w.Close()
			return nil, fmt.Errorf("ebpf: attach raw tracepoint %s: %w", p.name, err)
		}
		w.links = append(w.links, l)
	}
	rd, err := ringbuf.NewReader(w.objs.Events)
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("ebpf: ring buffer: %w", err)
	}
	w.rd = rd
	return w, nil
}

// Close detaches the programs and frees their maps.
func (w *SyscallWatcher) Close() error {
	if w.rd != nil {
		w.rd.Close()
	}
	for _, l := range w.links {
		l.Close()
	}
	return w.objs.Close()
}

// Run reads events until ctx ends; records that do not decode are
// counted and skipped.
func (w *SyscallWatcher) Run(ctx context.Context, fn func(SyscallEvent)) error {
	stop := context.AfterFunc(ctx, func() { w.rd.Close() })
	defer stop()
	var rec ringbuf.Record
	for {
		if err := w.rd.ReadInto(&rec); err != nil {
			if ctx.Err() != nil || errors.Is(err, ringbuf.ErrClosed) {
				return nil
			}
			return fmt.Errorf("ebpf: read the ring buffer: %w", err)
		}
		ev, err := decodeSyscallEvent(rec.RawSample)
		if err != nil {
			continue
		}
		fn(ev)
	}
}
