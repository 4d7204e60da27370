package match

import (
	"testing"

	"github.com/google/osv-scalibr/semantic"

	"bulwark.dev/bulwark/internal/vulndb"
)

func TestInRange(t *testing.T) {
	ev := func(kind, v string) vulndb.Event {
		switch kind {
		case "i":
			return vulndb.Event{Introduced: v}
		case "f":
			return vulndb.Event{Fixed: v}
		case "l":
			return vulndb.Event{LastAffected: v}
		}
		return vulndb.Event{Limit: v}
	}
	two := []vulndb.Event{ev("i", "1.0.0"), ev("f", "1.2.0"), ev("i", "2.0.0"), ev("f", "2.0.3")}
	tests := []struct {
		name    string
		events  []vulndb.Event
		version string
		want    bool
		fix     string
	}{
		{"before introduced", two, "0.9.0", false, ""},
		{"at introduced", two, "1.0.0", true, "1.2.0"},
		{"inside", two, "1.1.9", true, "1.2.0"},
		{"at fixed", two, "1.2.0", false, ""},
		{"between intervals", two, "1.5.0", false, ""},
		{"second interval", two, "2.0.1", true, "2.0.3"},
		{"after all", two, "3.0.0", false, ""},
		{"unsorted events", []vulndb.Event{ev("f", "2.0.3"), ev("i", "2.0.0"), ev("f", "1.2.0"), ev("i", "1.0.0")}, "2.0.1", true, "2.0.3"},
		{"introduced 0", []vulndb.Event{ev("i", "0"), ev("f", "1.0.0")}, "0.0.1", true, "1.0.0"},
		{"open ended", []vulndb.Event{ev("i", "0")}, "99.0.0", true, ""},
		{"last_affected inclusive", []vulndb.Event{ev("i", "0"), ev("l", "1.4.0")}, "1.4.0", true, ""},
		{"after last_affected", []vulndb.Event{ev("i", "0"), ev("l", "1.4.0")}, "1.4.1", false, ""},
		{"limit exclusive", []vulndb.Event{ev("i", "0"), ev("lim", "1.4.0")}, "1.4.0", false, ""},
		{"below limit", []vulndb.Event{ev("i", "0"), ev("lim", "1.4.0")}, "1.3.9", true, ""},
	}
	for _, tc := range tests {
		cur, err := semantic.Parse(tc.version, "Go")
		if err != nil {
			t.Fatal(err)
		}
		got, fix := inRange(cur, "Go", tc.events)
		if got != tc.want || fix != tc.fix {
			t.Errorf("%s: %s: got %v %q, want %v %q", tc.name, tc.version, got, fix, tc.want, tc.fix)
		}
	}
}
