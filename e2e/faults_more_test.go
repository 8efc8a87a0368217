//go:build e2e

package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestFaultImageDeletedWhileRunning removes a booted instance's image
// directory under it: the instance keeps running on what it has mounted,
// and stops and cleans up as usual.
func TestFaultImageDeletedWhileRunning(t *testing.T) {
	img := linkedImage(t, bootImage(t), t.TempDir())
	h := newFakeHost(t)
	const name = "deleted1"
	h.stopOnCleanup(t, name)
	mustSucceed(t, h.apptainer(t, "instance", "start", "--boot", "--boot-hostnet", img, name), "start")
	if err := os.RemoveAll(img); err != nil {
		t.Fatal(err)
	}
	if r := h.apptainer(t, "exec", "instance://"+name, "systemctl", "is-system-running"); !strings.Contains(r.Stdout, "running") {
		t.Errorf("instance after its image was deleted: %s", r)
	}
	mustSucceed(t, h.apptainer(t, "instance", "stop", name), "stop")
	assertNoTraces(t, h, name)
}

// TestFaultInstanceDirReadOnly makes the instance directory unwritable (a
// read-only mount: root ignores modes): the start fails with the reason and
// leaves nothing.
func TestFaultInstanceDirReadOnly(t *testing.T) {
	h := newFakeHost(t)
	dir := h.tmpfsOver(t, "app", "ro,mode=700")
	const name = "rodir1"
	r := h.apptainer(t, "instance", "start", "--boot", "--boot-hostnet", bootImage(t), name)
	mustFail(t, r, "read-only file system")
	h.mustRun(t, "umount", dir)
	assertNoTraces(t, h, name)
}

// TestFaultLogDiskFull puts the logs on a tiny, full file system: the start
// either fails with the reason or runs; either way stop (or the failure)
// leaves nothing behind.
func TestFaultLogDiskFull(t *testing.T) {
	h := newFakeHost(t)
	dir := h.tmpfsOver(t, "logs", "size=64k,mode=700")
	// Fill it up: dd stops with ENOSPC, so its own exit status says
	// nothing; the file system's free blocks do.
	_ = exec.Command("nsenter", h.nsenterArgs("dd", "if=/dev/zero", "of="+filepath.Join(dir, "filler"), "bs=4k")[1:]...).Run()
	if free := strings.TrimSpace(h.output(t, "stat", "-f", "-c", "%a", dir)); free != "0" {
		t.Fatalf("the log file system is not full: %s blocks free", free)
	}
	const name = "fulllog1"
	h.stopOnCleanup(t, name)
	r := h.apptainer(t, "instance", "start", "--boot", "--boot-hostnet", bootImage(t), name)
	if r.Code == 0 {
		mustSucceed(t, h.apptainer(t, "instance", "stop", name), "stop")
	} else if !strings.Contains(r.Stderr, "no space left") {
		t.Errorf("start failed without saying why:\n%s", r)
	}
	assertNoTraces(t, h, name)
}

// tmpfsOver mounts a tmpfs with opts, in the fake host only, over the
// caller's instance directory of kind ("app" or "logs"), until the test ends.
func (h *fakeHost) tmpfsOver(t *testing.T, kind, opts string) string {
	t.Helper()
	host, _ := os.Hostname()
	dir := filepath.Join(env.Home, ".apptainer", "instances", kind, host, "root")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	h.mustRun(t, "mount", "-t", "tmpfs", "-o", opts, "tmpfs", dir)
	t.Cleanup(func() { _ = exec.Command("nsenter", h.nsenterArgs("umount", dir)[1:]...).Run() })
	return dir
}
