package falco

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestDecodeEventRoundTrip: an event as the agent builds it survives
// encoding/json and back with its types, so a replayed stream matches
// exactly as the live one did.
func TestDecodeEventRoundTrip(t *testing.T) {
	e := Event{"evt.type": "openat", "proc.name": "cat", "proc.pid": int64(4242), "user.uid": int64(0),
		"proc.aname": []string{"sh", "containerd-shim"}, "proc.aname[1]": "sh", "evt.arg[flags]": "O_RDONLY|O_CLOEXEC",
		"evt.is_open_read": true, "fd.num": int64(3), "container.privileged": false, "k8s.pod.label[app]": "web"}
	b, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeEvent(b)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(e, got); d != "" {
		t.Errorf("round trip (-want +got):\n%s", d)
	}
	rs := NewRuleset()
	if err := rs.Add("r.yaml", []byte("- rule: r\n  desc: d\n  condition: evt.type = openat and proc.pid > 4000 and proc.aname = sh and evt.arg.flags contains O_RDONLY and evt.is_open_read = true\n  output: o\n  priority: INFO\n")); err != nil {
		t.Fatal(err)
	}
	rs.Compile()
	if !rs.Rules[0].Match(got) {
		t.Errorf("the decoded event does not match the rule the original matches (%v)", rs.Rules[0].Problem)
	}
}

func TestDecodeEventErrors(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`{"proc.pid": "12"}`, `field "proc.pid": want an integer, got a string`},
		{`{"proc.pid": 1.5}`, `field "proc.pid": want an integer, got 1.5`},
		{`{"proc.name": 3}`, `field "proc.name": want a string, got a number`},
		{`{"proc.aname": "sh"}`, `field "proc.aname": want a list of strings, got a string`},
		{`{"proc.aname": ["sh", 1]}`, `item 1: want a string, got a number`},
		{`{"evt.is_open_read": "true"}`, `want true or false, got a string`},
		{`{"proc.nope": "x"}`, `field "proc.nope" is not one bulwark's sources fill`},
		{`{"proc.name[1]": "x"}`, `proc.name takes no argument`},
		{`{"proc.aname[1": "x"}`, `want NAME or NAME[ARG]`},
		{`{"proc.name": null}`, `want a string, got null`},
		{`null`, `want a JSON object, got null`},
		{`[1]`, `event: json: cannot unmarshal array`},
		{`{"proc.name": "a"} {}`, `trailing data`},
		{`{"proc.name": "a"`, `unexpected EOF`},
	} {
		_, err := DecodeEvent([]byte(tc.in))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("DecodeEvent(%s) = %v, want an error containing %q", tc.in, err, tc.want)
		}
	}
}

func FuzzDecodeEvent(f *testing.F) {
	f.Add([]byte(`{"evt.type":"execve","proc.pid":12,"proc.aname":["sh"],"proc.aname[1]":"sh","evt.is_open_read":true}`))
	f.Add([]byte(`{"evt.arg[flags]":"O_RDONLY","k8s.pod.label[app]":"x"}`))
	f.Add([]byte(`{"proc.pid":-0,"proc.name":"a\u003cb","proc.aname":[],"x":{"y":1}}`))
	f.Add([]byte(`{"proc.pid":01}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		// The fast path reads what encoding/json reads, the same way.
		sc := &objScanner{b: b}
		if fast, ok := sc.object(); ok {
			var m map[string]any
			dec := json.NewDecoder(bytes.NewReader(b))
			dec.UseNumber()
			if err := dec.Decode(&m); err != nil || m == nil {
				t.Fatalf("the fast path read %q, encoding/json says %v", b, err)
			}
			got := map[string]any{}
			for _, kv := range fast { // the last of a repeated key wins
				got[kv.key] = kv.val
			}
			if d := cmp.Diff(m, got); d != "" {
				t.Fatalf("fast path differs from encoding/json on %q:\n%s", b, d)
			}
		}
		e, err := DecodeEvent(b)
		if err != nil {
			return
		}
		// What decodes re-encodes and decodes to the same event.
		out, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		again, err := DecodeEvent(out)
		if err != nil {
			t.Fatalf("re-encoded event does not decode: %v\n%s", err, out)
		}
		if d := cmp.Diff(e, again); d != "" {
			t.Fatalf("re-decoded event differs:\n%s", d)
		}
	})
}
