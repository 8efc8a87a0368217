package cli

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// runHostnet runs the real command tree and returns stdout and the exit
// code main would use.
func runHostnet(t *testing.T, args ...string) (string, int, error) {
	t.Helper()
	root := NewRootCommand()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(args)
	_, err := root.ExecuteC()
	if err == nil {
		return out.String(), 0, nil
	}
	return out.String(), ExitCode(err), err
}

// riskySandbox is a minimal image whose systemd-networkd is enabled.
func riskySandbox(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	unit := filepath.Join(root, "lib/systemd/system/systemd-networkd.service")
	link := filepath.Join(root, "etc/systemd/system/multi-user.target.wants/systemd-networkd.service")
	for _, d := range []string{filepath.Dir(unit), filepath.Dir(link)} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(unit, []byte("[Service]\nExecStart=/lib/systemd/systemd-networkd\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/lib/systemd/system/systemd-networkd.service", link); err != nil {
		t.Fatal(err)
	}
	return root
}

func TestHostnetAuditExitCodes(t *testing.T) {
	sandbox := riskySandbox(t)
	out, code, _ := runHostnet(t, "hostnet", "audit", sandbox)
	if code != 1 || !strings.Contains(out, "RISKY   systemd-networkd.service (unit)") || strings.Contains(out, "Usage:") {
		t.Fatalf("risky audit: exit %d, output:\n%s", code, out)
	}

	out, code, _ = runHostnet(t, "hostnet", "audit", "--json", sandbox)
	var rep struct {
		Risky    int `json:"risky"`
		Findings []struct {
			Subject string `json:"subject"`
		} `json:"findings"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil || code != 1 || rep.Risky != 1 || rep.Findings[0].Subject != "systemd-networkd.service" {
		t.Fatalf("json audit: exit %d, %v, output:\n%s", code, err, out)
	}

	sif := filepath.Join(t.TempDir(), "x.sif")
	if err := os.WriteFile(sif, append(make([]byte, 32), "SIF_MAGIC"...), 0o644); err != nil {
		t.Fatal(err)
	}
	errorCases := [][]string{
		{"hostnet", "audit", sif},
		{"hostnet", "audit", filepath.Join(sandbox, "missing")},
		{"hostnet", "audit"},
		{"hostnet", "audit", sandbox, sandbox},
		{"hostnet", "audit", "--no-such-flag", sandbox},
		{"hostnet", "harden", sif},
	}
	for _, args := range errorCases {
		_, code, err := runHostnet(t, args...)
		if code != 2 {
			t.Errorf("%q: exit %d (%v), want 2", args, code, err)
		}
	}
	// The test SIF is only a header: audit reads SIFs, and says this one is corrupt.
	if _, _, err := runHostnet(t, "hostnet", "audit", sif); err == nil || !strings.Contains(err.Error(), "corrupt SIF file") {
		t.Errorf("SIF error = %v", err)
	}
}

func TestHostnetHardenAndUndo(t *testing.T) {
	sandbox := riskySandbox(t)
	out, code, err := runHostnet(t, "hostnet", "harden", sandbox)
	if code != 0 || !strings.Contains(out, "Added ") {
		t.Fatalf("harden: exit %d (%v), output:\n%s", code, err, out)
	}
	out, code, _ = runHostnet(t, "hostnet", "audit", sandbox)
	if code != 0 || !strings.Contains(out, "Clean:") {
		t.Fatalf("audit after harden: exit %d, output:\n%s", code, out)
	}
	out, code, _ = runHostnet(t, "hostnet", "harden", sandbox)
	if code != 0 || !strings.Contains(out, "nothing changed") {
		t.Fatalf("second harden: exit %d, output:\n%s", code, out)
	}
	out, code, _ = runHostnet(t, "hostnet", "harden", "--undo", sandbox)
	if code != 0 || !strings.Contains(out, "Removed ") {
		t.Fatalf("undo: exit %d, output:\n%s", code, out)
	}
	if _, code, _ := runHostnet(t, "hostnet", "audit", sandbox); code != 1 {
		t.Fatalf("audit after undo: exit %d, want 1", code)
	}
	out, code, _ = runHostnet(t, "hostnet", "harden", "--undo", sandbox)
	if code != 0 || !strings.Contains(out, "nothing to undo") {
		t.Fatalf("second undo: exit %d, output:\n%s", code, out)
	}
}
