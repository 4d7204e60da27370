package watch

import (
	"encoding/binary"
	"net"
	"net/netip"
	"os"
	"strings"
	"testing"
	"unsafe"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// TestSyscallEventLayout holds decodeSyscallEvent's offsets to the
// layout bpf2go read from the compiled object's BTF.
func TestSyscallEventLayout(t *testing.T) {
	var e syscallsEvent
	got := map[string]uintptr{
		"size": unsafe.Sizeof(e), "res": unsafe.Offsetof(e.Res), "args": unsafe.Offsetof(e.Args),
		"nr": unsafe.Offsetof(e.Nr), "socktype": unsafe.Offsetof(e.Socktype), "addr": unsafe.Offsetof(e.Addr),
		"addr_ok": unsafe.Offsetof(e.AddrOk), "path1": unsafe.Offsetof(e.Path1), "path2": unsafe.Offsetof(e.Path2),
		"comm": unsafe.Offsetof(e.Comm), "cgroup": unsafe.Offsetof(e.Cgroup), "cap_eff": unsafe.Offsetof(e.CapEff),
		"exe": unsafe.Offsetof(e.Exe),
	}
	want := map[string]uintptr{"size": syscallEventSize, "res": 8, "args": 16, "nr": 48, "socktype": 52, "addr": 56, "addr_ok": 84, "path1": 88, "path2": 344, "comm": 600, "cgroup": 616, "cap_eff": 712, "exe": 720}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("struct event changed; update decodeSyscallEvent (-want +got):\n%s", d)
	}
}

func record(nr uint32, res int64, args [4]uint64, socktype uint32, addr []byte, p1, p2 string) []byte {
	b := make([]byte, syscallEventSize)
	le := binary.LittleEndian
	le.PutUint32(b[0:], 4242)
	le.PutUint32(b[4:], 4243)
	le.PutUint64(b[8:], uint64(res))
	for i, a := range args {
		le.PutUint64(b[16+8*i:], a)
	}
	le.PutUint32(b[48:], nr)
	le.PutUint32(b[52:], socktype)
	if addr != nil {
		copy(b[56:84], addr)
		le.PutUint32(b[84:], 1)
	}
	copy(b[88:343], p1)
	copy(b[344:599], p2)
	copy(b[600:615], "probe")
	copy(b[616:711], "docker-"+strings.Repeat("ab", 32)+".scope")
	le.PutUint64(b[712:], 1<<16) // CAP_SYS_MODULE
	copy(b[720:975], "/probe/probe")
	return b
}

func TestDecodeSyscallEvent(t *testing.T) {
	in4 := []byte{2, 0, 0x11, 0x5c, 203, 0, 113, 5} // AF_INET, port 4444
	in6 := make([]byte, 28)
	in6[0] = 10
	binary.BigEndian.PutUint16(in6[2:], 443)
	copy(in6[8:], netip.MustParseAddr("2001:db8::1").AsSlice())
	for _, tc := range []struct {
		name string
		rec  []byte
		want SyscallEvent
	}{
		{"connect v4", record(42, -115, [4]uint64{3}, 2<<16|1, in4, "", ""), SyscallEvent{PID: 4242, TID: 4243, Comm: "probe", ContainerID: strings.Repeat("ab", 32), CapEff: 1 << 16, Exe: "/probe/probe", Syscall: "connect", Res: -115, Args: [4]uint64{3}, Domain: 2, SockType: 1, Family: 2, Addr: netip.MustParseAddrPort("203.0.113.5:4444")}},
		{"accept v6", record(288, 7, [4]uint64{5}, 10<<16|1, in6, "", ""), SyscallEvent{PID: 4242, TID: 4243, Comm: "probe", ContainerID: strings.Repeat("ab", 32), CapEff: 1 << 16, Exe: "/probe/probe", Syscall: "accept4", Res: 7, Args: [4]uint64{5}, Domain: 10, SockType: 1, Family: 10, Addr: netip.MustParseAddrPort("[2001:db8::1]:443")}},
		{"symlink", record(88, 0, [4]uint64{}, 0, nil, "/etc/shadow", "/tmp/x"), SyscallEvent{PID: 4242, TID: 4243, Comm: "probe", ContainerID: strings.Repeat("ab", 32), CapEff: 1 << 16, Exe: "/probe/probe", Syscall: "symlink", Path1: "/etc/shadow", Path2: "/tmp/x"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := decodeSyscallEvent(tc.rec)
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tc.want, got, cmpopts.EquateComparable(netip.AddrPort{})); d != "" {
				t.Errorf("(-want +got):\n%s", d)
			}
		})
	}
	if _, err := decodeSyscallEvent(make([]byte, 100)); err == nil {
		t.Error("a short record decoded")
	}
	if _, err := decodeSyscallEvent(record(999, 0, [4]uint64{}, 0, nil, "", "")); err == nil {
		t.Error("a syscall the programs do not report decoded")
	}
}

func FuzzDecodeSyscallEvent(f *testing.F) {
	f.Add(record(42, -115, [4]uint64{3}, 2<<16|1, []byte{2, 0, 0, 22, 1, 2, 3, 4}, "", ""))
	f.Add(record(266, 0, [4]uint64{}, 0, nil, "a", "b"))
	f.Fuzz(func(t *testing.T, b []byte) {
		ev, err := decodeSyscallEvent(b)
		if err != nil {
			return
		}
		if ev.Syscall == "" || len(ev.Path1) > 256 || len(ev.Path2) > 256 {
			t.Fatalf("decoded nonsense: %+v", ev)
		}
	})
}

// TestSocketInfo reads a real socket of this process in /proc.
func TestSocketInfo(t *testing.T) {
	for _, tc := range []struct{ name, proto, addr string }{{"tcp4", "tcp", "127.0.0.1:0"}, {"tcp6", "tcp", "[::1]:0"}} {
		t.Run(tc.name, func(t *testing.T) {
			a, err := net.ResolveTCPAddr(tc.name, tc.addr)
			if err != nil {
				t.Fatal(err)
			}
			l, err := net.ListenTCP(tc.name, a)
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			f, err := l.File()
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			si := ProcFS{}.socketInfo(os.Getpid(), int(f.Fd()))
			if si == nil {
				t.Fatal("socket not found in /proc/self/net")
			}
			want := l.Addr().String()
			if si.proto != tc.proto || si.local.String() != want {
				t.Errorf("got %s %s, want %s %s", si.proto, si.local, tc.proto, want)
			}
		})
	}
	if si := (ProcFS{}).socketInfo(os.Getpid(), 1<<20); si != nil {
		t.Errorf("a descriptor this process does not have is a socket: %+v", si)
	}
}

func TestProcNetAddr(t *testing.T) {
	for in, want := range map[string]string{
		"0100007F:1F90":                         "127.0.0.1:8080",
		"057100CB:115C":                         "203.0.113.5:4444",
		"00000000000000000000000001000000:0050": "[::1]:80",
		"0000000000000000FFFF00000100007F:0016": "127.0.0.1:22", // v4-mapped
	} {
		got, err := procNetAddr(in)
		if err != nil || got.String() != want {
			t.Errorf("procNetAddr(%q) = %v, %v; want %s", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "0100007F", "zz00007F:0016", "0100007F:zz", "01007F:0016"} {
		if _, err := procNetAddr(bad); err == nil {
			t.Errorf("procNetAddr(%q) read", bad)
		}
	}
}
