// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
//
// bulwark's eBPF source: raw tracepoints on sys_enter and sys_exit for
// the few syscalls the Falco rules judge that neither the process
// connector nor fanotify sees (network connections, packet sockets,
// ptrace, links, kernel modules, dup of a socket onto stdio). Everything
// else returns at the first comparison: the cost on other syscalls is
// one switch.
//
// Raw tracepoints hand the user registers (struct pt_regs) and the
// syscall number or result; the offsets below are x86_64's pt_regs,
// which is user ABI and does not change between kernels. The one kernel
// structures read are the task's cgroup name and its effective
// capabilities (CO-RE: the loader relocates the field offsets against the
// running kernel's BTF), so that a process that exits before user space
// reads /proc is still attributed to its container, with the
// capabilities it had (a kernel module loaded and gone). Rebuild the committed object with `go generate
// ./internal/watch` (clang and libbpf-dev from Debian).

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

// The kernel structures on the path task->cgroups->subsys[memory]->
// cgroup->kn->name, with only the fields read: CO-RE relocates them.
struct kernfs_node {
	const char *name;
} __attribute__((preserve_access_index));
struct cgroup {
	struct kernfs_node *kn;
} __attribute__((preserve_access_index));
struct cgroup_subsys_state {
	struct cgroup *cgroup;
} __attribute__((preserve_access_index));
struct css_set {
	struct cgroup_subsys_state *subsys[16];
} __attribute__((preserve_access_index));
// cred->cap_effective: kernel_cap_t is { u64 val; } since Linux 6.3
// and { u32 cap[2]; } before, eight bytes either way.
typedef struct {
	__u64 val;
} kernel_cap_t;
struct cred {
	kernel_cap_t cap_effective;
} __attribute__((preserve_access_index));
struct task_struct {
	struct css_set *cgroups;
	const struct cred *cred;
} __attribute__((preserve_access_index));
struct linux_binprm {
	const char *filename;
} __attribute__((preserve_access_index));
enum cgroup_subsys_id {
	memory_cgrp_id = 4, // the running kernel's value replaces this one
};

// x86_64 syscall numbers.
#define NR_DUP 32
#define NR_DUP2 33
#define NR_SOCKET 41
#define NR_CONNECT 42
#define NR_ACCEPT 43
#define NR_PTRACE 101
#define NR_LINK 86
#define NR_SYMLINK 88
#define NR_INIT_MODULE 175
#define NR_ACCEPT4 288
#define NR_DUP3 292
#define NR_FINIT_MODULE 313
#define NR_LINKAT 265
#define NR_SYMLINKAT 266
#define NR_EXECVE 59 // reported from sched_process_exec, with the program's path

// struct pt_regs offsets (arch/x86/include/uapi/asm/ptrace.h).
#define REG_R10 56
#define REG_DX 96
#define REG_SI 104
#define REG_DI 112
#define REG_ORIG_AX 120

#define PATH_LEN 256
#define ADDR_LEN 28 // sizeof(struct sockaddr_in6)
#define CGROUP_LEN 96 // docker-<64 hex>.scope, cri-containerd-<64 hex>.scope

// event is what user space reads; keep in step with rawEvent in ebpf_linux.go.
struct event {
	__u32 tgid;
	__u32 tid;
	__s64 res;
	__u64 args[4];
	__u32 nr;
	// socktype is (domain << 16) | type of the socket involved, 0 when
	// the socket was made before the agent started.
	__u32 socktype;
	__u8 addr[ADDR_LEN];
	__u32 addr_ok;
	char path1[PATH_LEN];
	char path2[PATH_LEN];
	// comm and cgroup (the leaf name of the task's memory cgroup) say
	// who it was when /proc no longer can.
	char comm[16];
	char cgroup[CGROUP_LEN];
	// cap_eff is the thread's effective capability set.
	__u64 cap_eff;
	// exe is the program the process last exec'd while the agent ran
	// (empty for one exec'd before it started).
	char exe[PATH_LEN];
};

struct sockkey {
	__u32 tgid;
	__s32 fd;
};

// pending holds each thread's syscall between its enter and its exit.
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, struct event);
} pending SEC(".maps");

// exes remembers each process's program (sched_process_exec's filename),
// for the syscalls of a process that exits before /proc is read.
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, char[PATH_LEN]);
} exes SEC(".maps");

// socktypes remembers what each socket is, for connect and accept.
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct sockkey);
	__type(value, __u32);
} socktypes SEC(".maps");

// scratch builds an event off the 512-byte stack.
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct event);
} scratch SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 20);
} events SEC(".maps");

static __always_inline __u64 reg(void *regs, int off)
{
	__u64 v = 0;
	bpf_probe_read_kernel(&v, sizeof(v), regs + off);
	return v;
}

static __always_inline void socktype_of(struct event *e, __s32 fd)
{
	struct sockkey k = {.tgid = e->tgid, .fd = fd};
	__u32 *t = bpf_map_lookup_elem(&socktypes, &k);
	e->socktype = t ? *t : 0;
}

// identify starts an event: who, which syscall, and nothing else yet.
static __always_inline void identify(struct event *e, __u64 id, __u64 nr)
{
	e->tgid = id >> 32;
	e->tid = (__u32)id;
	e->nr = nr;
	e->res = 0;
	e->socktype = 0;
	e->addr_ok = 0;
	e->path1[0] = 0;
	e->path2[0] = 0;
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	e->cgroup[0] = 0;
	e->cap_eff = 0;
	e->exe[0] = 0;
	__u32 tgid = id >> 32;
	const char *exe = bpf_map_lookup_elem(&exes, &tgid);
	if (exe)
		bpf_probe_read_kernel_str(e->exe, PATH_LEN, exe);
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	const struct cred *cred = BPF_CORE_READ(task, cred);
	if (cred)
		bpf_core_read(&e->cap_eff, sizeof(e->cap_eff), &cred->cap_effective);
	struct css_set *cgroups = BPF_CORE_READ(task, cgroups);
	struct cgroup_subsys_state *css = 0;
	__u32 sub = bpf_core_enum_value(enum cgroup_subsys_id, memory_cgrp_id);
	if (cgroups && sub < 16)
		bpf_core_read(&css, sizeof(css), &cgroups->subsys[sub]);
	if (css) {
		const char *name = BPF_CORE_READ(css, cgroup, kn, name);
		if (name)
			bpf_probe_read_kernel_str(e->cgroup, CGROUP_LEN, name);
	}
}

static __always_inline int reported(__u64 nr)
{
	switch (nr) {
	case NR_DUP: case NR_DUP2: case NR_DUP3: case NR_SOCKET: case NR_CONNECT:
	case NR_ACCEPT: case NR_ACCEPT4: case NR_PTRACE: case NR_LINK: case NR_SYMLINK:
	case NR_LINKAT: case NR_SYMLINKAT: case NR_INIT_MODULE: case NR_FINIT_MODULE:
		return 1;
	}
	return 0;
}

SEC("raw_tracepoint/sys_enter")
int sys_enter(struct bpf_raw_tracepoint_args *ctx)
{
	__u64 nr = ctx->args[1];
	if (!reported(nr))
		return 0;
	void *regs = (void *)ctx->args[0];
	__u32 zero = 0;
	struct event *e = bpf_map_lookup_elem(&scratch, &zero);
	if (!e)
		return 0;
	__u64 id = bpf_get_current_pid_tgid();
	identify(e, id, nr);
	e->args[0] = reg(regs, REG_DI);
	e->args[1] = reg(regs, REG_SI);
	e->args[2] = reg(regs, REG_DX);
	e->args[3] = reg(regs, REG_R10);
	switch (nr) {
	case NR_CONNECT:
		if (bpf_probe_read_user(e->addr, sizeof(e->addr), (void *)e->args[1]) == 0 ||
		    bpf_probe_read_user(e->addr, 16, (void *)e->args[1]) == 0)
			e->addr_ok = 1;
		socktype_of(e, (__s32)e->args[0]);
		break;
	case NR_ACCEPT: case NR_ACCEPT4: case NR_DUP: case NR_DUP2: case NR_DUP3:
		socktype_of(e, (__s32)e->args[0]);
		break;
	case NR_SYMLINK: case NR_LINK:
		bpf_probe_read_user_str(e->path1, PATH_LEN, (void *)e->args[0]);
		bpf_probe_read_user_str(e->path2, PATH_LEN, (void *)e->args[1]);
		break;
	case NR_SYMLINKAT:
		bpf_probe_read_user_str(e->path1, PATH_LEN, (void *)e->args[0]);
		bpf_probe_read_user_str(e->path2, PATH_LEN, (void *)e->args[2]);
		break;
	case NR_LINKAT:
		bpf_probe_read_user_str(e->path1, PATH_LEN, (void *)e->args[1]);
		bpf_probe_read_user_str(e->path2, PATH_LEN, (void *)e->args[3]);
		break;
	}
	bpf_map_update_elem(&pending, &id, e, BPF_ANY);
	return 0;
}

SEC("raw_tracepoint/sys_exit")
int sys_exit(struct bpf_raw_tracepoint_args *ctx)
{
	// The syscall number first: cheaper than the map lookup that every
	// other syscall would otherwise pay.
	if (!reported(reg((void *)ctx->args[0], REG_ORIG_AX)))
		return 0;
	__u64 id = bpf_get_current_pid_tgid();
	struct event *e = bpf_map_lookup_elem(&pending, &id);
	if (!e)
		return 0;
	__s64 res = (__s64)ctx->args[1];
	e->res = res;
	if (res >= 0) {
		struct sockkey k = {.tgid = e->tgid, .fd = (__s32)res};
		switch (e->nr) {
		case NR_SOCKET: {
			__u32 t = ((__u32)e->args[0] << 16) | ((__u32)e->args[1] & 0xf);
			bpf_map_update_elem(&socktypes, &k, &t, BPF_ANY);
			break;
		}
		case NR_ACCEPT: case NR_ACCEPT4:
			// The peer's address, when the caller asked for it.
			if (e->args[1] && (bpf_probe_read_user(e->addr, sizeof(e->addr), (void *)e->args[1]) == 0 ||
					   bpf_probe_read_user(e->addr, 16, (void *)e->args[1]) == 0))
				e->addr_ok = 1;
			// fallthrough: the new descriptor is the same kind of socket.
		case NR_DUP: case NR_DUP2: case NR_DUP3:
			if (e->socktype)
				bpf_map_update_elem(&socktypes, &k, &e->socktype, BPF_ANY);
			break;
		}
	}
	// Only what the rules can judge leaves the kernel: not a socket()
	// that is neither a packet nor a raw socket, not a dup other than
	// onto stdin, stdout or stderr, not a failed accept.
	int send = 1;
	switch (e->nr) {
	case NR_SOCKET:
		send = e->args[0] == 17 /* AF_PACKET */ || ((__u32)e->args[1] & 0xf) == 3 /* SOCK_RAW */;
		break;
	case NR_DUP: case NR_DUP2: case NR_DUP3:
		send = res >= 0 && res <= 2; // user space reads what it is
		break;
	case NR_ACCEPT: case NR_ACCEPT4:
		send = res >= 0;
		break;
	}
	if (send)
		bpf_ringbuf_output(&events, e, sizeof(*e), 0);
	bpf_map_delete_elem(&pending, &id);
	return 0;
}

// sched_process_exec runs in the new program once exec has succeeded:
// its path, container and name, for a process that exits before user
// space reads /proc (a dropped binary that runs for a millisecond).
SEC("raw_tracepoint/sched_process_exec")
int sched_exec(struct bpf_raw_tracepoint_args *ctx)
{
	__u32 zero = 0;
	struct event *e = bpf_map_lookup_elem(&scratch, &zero);
	if (!e)
		return 0;
	identify(e, bpf_get_current_pid_tgid(), NR_EXECVE);
	struct linux_binprm *bprm = (struct linux_binprm *)ctx->args[2];
	const char *filename = BPF_CORE_READ(bprm, filename);
	if (filename)
		bpf_probe_read_kernel_str(e->path1, PATH_LEN, filename);
	__u32 tgid = e->tgid;
	bpf_map_update_elem(&exes, &tgid, e->path1, BPF_ANY);
	bpf_ringbuf_output(&events, e, sizeof(*e), 0);
	return 0;
}

// sched_process_exit forgets a process's program when it ends, so that a
// process given its PID later is not taken for it.
SEC("raw_tracepoint/sched_process_exit")
int sched_exit(struct bpf_raw_tracepoint_args *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = id >> 32;
	if ((__u32)id == tgid)
		bpf_map_delete_elem(&exes, &tgid);
	return 0;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
