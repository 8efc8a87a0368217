//go:build e2e

package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestAttackMountPointThroughLink: an image whose /etc is a symbolic link
// to a host directory reachable through a bind (the host's /tmp) must not
// make the runtime, as root, create its mount points (/etc/hosts,
// /etc/resolv.conf, ...) there. Positive control: the container itself
// reaches that host directory through the link.
func TestAttackMountPointThroughLink(t *testing.T) {
	hostDir := t.TempDir() // in the host's /tmp, which containers get
	if !strings.HasPrefix(hostDir, "/tmp/") {
		t.Fatalf("the test directory %s is not below /tmp, which the attack needs", hostDir)
	}
	img := filepath.Join(t.TempDir(), "img")
	if _, err := makeBusyboxRootfs(img); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(filepath.Join(img, "etc")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(hostDir, filepath.Join(img, "etc")); err != nil {
		t.Fatal(err)
	}
	empty := func() []string {
		entries, err := os.ReadDir(hostDir)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		return names
	}
	r := apptainer(t, "exec", img, "true")
	mustFail(t, r, "the image's symbolic links lead it out of the image")
	if left := empty(); len(left) > 0 {
		t.Errorf("the runtime created %v in the host directory %s", left, hostDir)
	}
	// Control: without the runtime's /etc mount points, the container
	// writes into the host directory through the same link.
	withConf(t, "config resolv_conf = no")
	ctl := apptainer(t, "exec", "--no-mount", "/etc/hosts,/etc/localtime", img, "sh", "-c", "echo reached > /etc/written")
	mustSucceed(t, ctl, "the control: a write through /etc")
	if b, err := os.ReadFile(filepath.Join(hostDir, "written")); err != nil || strings.TrimSpace(string(b)) != "reached" {
		t.Errorf("the control did not reach %s through /etc (%v), so the refusal above proves nothing", hostDir, err)
	}
}
