package falco

// Type is a field's value type.
type Type int

// Field types.
const (
	String Type = iota
	Int
	Bool
	// StringList fields hold several values (proc.args split, fd.types).
	StringList
	// Net fields hold an IP address and compare with networks:
	// fd.net = "127.0.0.0/8" is true for 127.0.0.1.
	Net
)

// fieldInfo describes a field the event sources provide.
type fieldInfo struct {
	Type Type
	// Arg says the field takes an argument: an index (proc.aname[2]) or a
	// name (evt.arg.flags, evt.arg[flags]).
	Arg bool
	// NoArg says it may also be used without one (proc.aname: any
	// ancestor).
	NoArg bool
}

// Fields are the fields bulwark's sources (the process connector,
// fanotify, eBPF tracepoints, the Docker Engine and the image's file
// index) fill. A rule that uses any other field is reported as not
// evaluable, naming the field, and is never run on partial data.
var Fields = map[string]fieldInfo{
	"evt.type": {Type: String}, "evt.dir": {Type: String}, "evt.num": {Type: Int},
	"evt.res": {Type: String}, "evt.rawres": {Type: Int}, "evt.args": {Type: String},
	"evt.arg":          {Type: String, Arg: true},
	"evt.is_open_read": {Type: Bool}, "evt.is_open_write": {Type: Bool}, "evt.is_open_exec": {Type: Bool},
	"evt.source": {Type: String}, "evt.time": {Type: String},

	"proc.name": {Type: String}, "proc.exe": {Type: String}, "proc.exepath": {Type: String},
	"proc.cmdline": {Type: String}, "proc.args": {Type: String}, "proc.cwd": {Type: String},
	"proc.pid": {Type: Int}, "proc.ppid": {Type: Int}, "proc.vpid": {Type: Int},
	"proc.pname": {Type: String}, "proc.pexe": {Type: String}, "proc.pexepath": {Type: String},
	"proc.pcmdline": {Type: String}, "proc.sname": {Type: String}, "proc.tty": {Type: Int},
	"proc.aname":              {Type: String, Arg: true, NoArg: true},
	"proc.aexe":               {Type: String, Arg: true, NoArg: true},
	"proc.aexepath":           {Type: String, Arg: true, NoArg: true},
	"proc.apid":               {Type: Int, Arg: true, NoArg: true},
	"proc.is_exe_upper_layer": {Type: Bool}, "proc.is_exe_from_memfd": {Type: Bool},
	"proc.is_container_healthcheck": {Type: Bool}, "proc.is_container_liveness_probe": {Type: Bool},
	"proc.is_container_readiness_probe": {Type: Bool},

	"user.name": {Type: String}, "user.uid": {Type: Int}, "user.loginuid": {Type: Int},
	"user.loginname": {Type: String}, "group.name": {Type: String}, "group.gid": {Type: Int},

	"fd.name": {Type: String}, "fd.nameraw": {Type: String}, "fd.directory": {Type: String},
	"fd.filename": {Type: String}, "fd.typechar": {Type: String}, "fd.type": {Type: String},
	"fd.num": {Type: Int},
	// Sockets (the eBPF source). fd.ip, fd.port and fd.net hold both
	// ends: = matches either, != neither, as in Falco.
	"fd.sockfamily": {Type: String}, "fd.l4proto": {Type: String},
	"fd.ip": {Type: Net}, "fd.sip": {Type: Net}, "fd.cip": {Type: Net}, "fd.lip": {Type: Net}, "fd.rip": {Type: Net},
	"fd.net": {Type: Net}, "fd.snet": {Type: Net}, "fd.cnet": {Type: Net}, "fd.lnet": {Type: Net}, "fd.rnet": {Type: Net},
	"fd.port": {Type: Int}, "fd.sport": {Type: Int}, "fd.cport": {Type: Int}, "fd.lport": {Type: Int}, "fd.rport": {Type: Int},
	"fd.connected": {Type: Bool}, "fd.name_changed": {Type: Bool},
	"thread.cap_effective": {Type: String}, "thread.cap_permitted": {Type: String}, "proc.duration": {Type: Int},

	"container.id": {Type: String}, "container.name": {Type: String}, "container.image": {Type: String},
	"container.image.repository": {Type: String}, "container.image.tag": {Type: String},
	"container.image.digest": {Type: String},
	// container.image.user is bulwark's: the USER the image declares.
	"container.image.user": {Type: String}, "container.privileged": {Type: Bool},
	"container.start_ts": {Type: Int}, "container.duration": {Type: Int},

	"k8s.ns.name": {Type: String}, "k8s.pod.name": {Type: String}, "k8s.pod.uid": {Type: String},
	"k8s.pod.label": {Type: String, Arg: true},
}
