package server

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestLoadConfig(t *testing.T) {
	tests := []struct {
		name, yaml, err string
		retention       time.Duration
	}{
		{"empty", ``, "", 90 * 24 * time.Hour},
		{"everything", "pullPolicy:\n  blockSeverity: high\nsiem:\n  - name: soc\n    syslog: 127.0.0.1:514\n    format: cef\nauditRetention: 400d\n", "", 400 * 24 * time.Hour},
		{"retention as a duration", "auditRetention: 9000h\n", "", 9000 * time.Hour},
		{"retention below the minimum", "auditRetention: 30d\n", "90-day minimum", 0},
		{"bad retention", "auditRetention: soon\n", "want days", 0},
		{"unknown key", "pullPolicies: {}\n", "unknown field", 0},
		{"bad policy", "pullPolicy:\n  blockSeverity: extreme\n", "blockSeverity", 0},
		{"siem without a name", "siem:\n  - syslog: 127.0.0.1:514\n", "needs a name", 0},
		{"siem with both", "siem:\n  - name: x\n    syslog: h:1\n    http: http://h\n", "exactly one", 0},
		{"siem bad format", "siem:\n  - name: x\n    syslog: h:1\n    format: leef\n", "rfc5424 or cef", 0},
		{"siem bad address", "siem:\n  - name: x\n    syslog: nohost\n", "syslog", 0},
		{"not yaml", "pullPolicy: [\n", "--config", 0},
	}
	for _, tc := range tests {
		f := filepath.Join(t.TempDir(), "c.yaml")
		os.WriteFile(f, []byte(tc.yaml), 0o644)
		c, err := LoadConfig(f)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) || !strings.Contains(err.Error(), f) {
				t.Errorf("%s: %v, want %q naming the file", tc.name, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if r, _ := c.Retention(); r != tc.retention {
			t.Errorf("%s: retention %s, want %s", tc.name, r, tc.retention)
		}
	}
	if _, err := LoadConfig(filepath.Join(t.TempDir(), "missing.yaml")); err == nil || !strings.Contains(err.Error(), "--config") {
		t.Errorf("missing file: %v", err)
	}
}
