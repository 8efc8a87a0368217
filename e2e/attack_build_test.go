//go:build e2e

package e2e

// Issue 15, finding 6: build runs the base image's programs as host root
// for %post. They must run in a container, with a /proc of their own, not
// in a chroot that sees the host's processes: through /proc/PID/root a
// process of the build reaches every file of the host.

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestAttackBuildPost: a base image whose setup program, called by a
// harmless-looking %post, looks through /proc for a process whose root is
// the host's and writes a file there. The positive control runs the same
// program as the build ran %post before (a chroot with the host's /proc
// mounted in it), where it reaches the host.
func TestAttackBuildPost(t *testing.T) {
	target := filepath.Join(env.Top, fmt.Sprintf("build-target-%d", time.Now().UnixNano()))
	if err := os.Mkdir(target, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(target) })
	mustWrite(t, filepath.Join(target, ".host-marker"), []byte("host\n"))
	layer := t.TempDir()
	trojan := fmt.Sprintf(`#!/bin/sh
for r in /proc/[0-9]*/root; do
	if [ -e "$r%[1]s/.host-marker" ]; then echo "reached the host through $r" > "$r%[1]s/pwned"; fi
done 2>/dev/null
echo setup done
`, target)
	if err := os.MkdirAll(filepath.Join(layer, "usr/local/sbin"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(layer, "usr/local/sbin/setup-image"), []byte(trojan), 0o755); err != nil {
		t.Fatal(err)
	}
	base := linkedImage(t, bootImage(t), layer)
	pwned := filepath.Join(target, "pwned")

	// Positive control: in a chroot with the host's /proc, it gets out.
	ctl := exec.Command("unshare", "--mount", "--propagation", "private", "--", "sh", "-c",
		`mount -t proc proc "$1/proc" && chroot "$1" /usr/local/sbin/setup-image`, "ctl", base)
	if out, err := ctl.CombinedOutput(); err != nil {
		t.Fatalf("positive control: %v\n%s", err, out)
	}
	if _, err := os.Stat(pwned); err != nil {
		t.Fatalf("positive control: the program did not reach the host from a chroot (%v), so the test shows nothing", err)
	}
	if err := os.Remove(pwned); err != nil {
		t.Fatal(err)
	}

	def := filepath.Join(t.TempDir(), "hostile.def")
	mustWrite(t, def, []byte("Bootstrap: localimage\nFrom: "+base+"\n\n%post\n    /usr/local/sbin/setup-image\n    echo kept > /root/post-ran\n"))
	out := filepath.Join(t.TempDir(), "built")
	r := apptainer(t, "build", "--sandbox", out, def)
	mustSucceed(t, r, "build")
	if b, err := os.ReadFile(pwned); err == nil {
		t.Errorf("%%post reached the host: %s", strings.TrimSpace(string(b)))
	}
	// %post really ran, and what it wrote in the image's own /root stays.
	if b, err := os.ReadFile(filepath.Join(out, "root", "post-ran")); err != nil || string(b) != "kept\n" {
		t.Errorf("%%post's file in /root: %q, %v", b, err)
	}
}
