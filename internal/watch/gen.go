package watch

// The eBPF object is committed, so building bulwark needs no clang;
// regenerate it after changing bpf/syscalls.c (clang, llvm and
// libbpf-dev from Debian).
//go:generate go run github.com/cilium/ebpf/cmd/bpf2go@v0.22.0 -target amd64 -go-package watch -output-stem syscalls_bpf syscalls bpf/syscalls.c -- -I/usr/include/x86_64-linux-gnu -O2 -Wall
