//go:build e2e

package e2e

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// sifCacheDir keeps built SIFs between runs, outside the repository,
// keyed by the definition's content.
const sifCacheDir = "/var/cache/apptainer-e2e/sif"

// testSIFDef builds from the cached boot rootfs: fast, unlike debootstrap.
const testSIFDef = `Bootstrap: localimage
From: %s

%post
    echo sif-e2e > /etc/sif-e2e
%runscript
    echo "runscript: $*"
%labels
    Maintainer apptainer e2e
%help
    Debian bookworm with systemd, for the SIF e2e tests.
`

var sifOnce struct {
	sync.Once
	path string
	r    result
}

// buildCached builds def into the cache unless a SIF of the same
// definition is there already.
func buildCached(t *testing.T, def string) (string, result) {
	t.Helper()
	sum := sha256.Sum256([]byte(def))
	out := filepath.Join(sifCacheDir, hex.EncodeToString(sum[:8])+".sif")
	if _, err := os.Stat(out); err == nil {
		return out, result{}
	}
	if err := os.MkdirAll(sifCacheDir, 0o755); err != nil {
		t.Fatal(err)
	}
	defFile := filepath.Join(t.TempDir(), "image.def")
	if err := os.WriteFile(defFile, []byte(def), 0o644); err != nil {
		t.Fatal(err)
	}
	kit, err := filepath.Abs("../etc/network-overrides")
	if err != nil {
		t.Fatal(err)
	}
	return out, apptainerEnv(t, []string{"APPTAINER_NETWORK_OVERRIDES=" + kit}, "build", out, defFile)
}

// testSIF returns the SIF built from the boot rootfs.
func testSIF(t *testing.T) string {
	t.Helper()
	img := bootImage(t)
	sifOnce.Do(func() {
		sifOnce.path, sifOnce.r = buildCached(t, strings.Replace(testSIFDef, "%s", img, 1))
	})
	if sifOnce.r.Code != 0 {
		t.Fatalf("build failed:\n%s", sifOnce.r)
	}
	return sifOnce.path
}

func TestSIFBuildInspect(t *testing.T) {
	sif := testSIF(t)
	list := apptainer(t, "sif", "list", sif)
	mustSucceed(t, list, "sif list")
	for _, want := range []string{"Def.FILE", "JSON.Generic", "FS (Squashfs/*System/"} {
		if !strings.Contains(list.Stdout, want) {
			t.Errorf("sif list lacks %q:\n%s", want, list.Stdout)
		}
	}
	hdr := apptainer(t, "sif", "header", sif)
	mustSucceed(t, hdr, "sif header")
	if !strings.Contains(hdr.Stdout, "#!/usr/bin/env run-singularity") {
		t.Errorf("sif header:\n%s", hdr.Stdout)
	}
	in := apptainer(t, "inspect", sif)
	if !strings.Contains(in.Stdout, "Maintainer: apptainer e2e") {
		t.Errorf("inspect labels:\n%s", in)
	}
	js := apptainer(t, "inspect", "--json", "--deffile", "--runscript", sif)
	if !strings.Contains(js.Stdout, `"deffile": "Bootstrap: localimage`) || !strings.Contains(js.Stdout, `"runscript": "#!/bin/sh`) {
		t.Errorf("inspect --json:\n%s", js)
	}
	// An existing output is not replaced without --force.
	r := apptainer(t, "build", sif, sif)
	mustFail(t, r, "already exists")
}

func TestSIFExecAndInstance(t *testing.T) {
	sif := testSIF(t)
	r := apptainer(t, "exec", sif, "cat", "/etc/sif-e2e")
	mustSucceed(t, r, "exec on SIF")
	if strings.TrimSpace(r.Stdout) != "sif-e2e" {
		t.Errorf("exec output %q", r.Stdout)
	}
	r = apptainer(t, "run", sif, "a", "b")
	if !strings.Contains(r.Stdout, "runscript: a b") {
		t.Errorf("run:\n%s", r)
	}
	// --writable-tmpfs writes land in the overlay, not in the image.
	mustSucceed(t, apptainer(t, "exec", "--writable-tmpfs", sif, "touch", "/etc/new"), "--writable-tmpfs")
	mustFail(t, apptainer(t, "exec", "--writable", sif, "true"), "--writable")
	stopOnCleanup(t, "sif1")
	mustSucceed(t, apptainer(t, "instance", "start", sif, "sif1"), "instance start on SIF")
	r = apptainer(t, "exec", "instance://sif1", "cat", "/etc/sif-e2e")
	if strings.TrimSpace(r.Stdout) != "sif-e2e" {
		t.Errorf("exec instance:// output:\n%s", r)
	}
	mustSucceed(t, apptainer(t, "instance", "stop", "sif1"), "stop")
	assertNoLoop(t, sif)
}

func TestSIFBoot(t *testing.T) {
	sif := testSIF(t)
	h := newFakeHost(t)
	for _, c := range []struct {
		name  string
		flags []string
	}{
		{"sifboot1", []string{"--boot", "--network", "none"}},
		{"sifboot2", []string{"--boot", "--boot-hostnet"}},
	} {
		h.stopOnCleanup(t, c.name)
		args := append(append([]string{"instance", "start"}, c.flags...), sif, c.name)
		r := h.apptainer(t, args...)
		mustSucceed(t, r, strings.Join(c.flags, " "))
		if !strings.Contains(r.Stdout, c.name+": running") {
			t.Errorf("%s: not running:\n%s", c.name, r)
		}
		inst := getInstanceIn(t, h, c.name)
		if !strings.HasSuffix(pid1Exe(t, inst.Pid), "systemd") {
			t.Errorf("%s: PID 1 is %s", c.name, pid1Exe(t, inst.Pid))
		}
		mustSucceed(t, h.apptainer(t, "instance", "stop", c.name), "stop "+c.name)
	}
	assertNoLoop(t, sif)
}

func TestSIFBadFiles(t *testing.T) {
	sif := testSIF(t)
	data, err := os.ReadFile(sif)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	truncated := filepath.Join(dir, "truncated.sif")
	corrupt := filepath.Join(dir, "corrupt.sif")
	notSIF := filepath.Join(dir, "script.sh")
	mustWrite(t, truncated, data[:len(data)/2])
	bad := append([]byte(nil), data...)
	// Overwrite the middle of the squashfs superblock's magic area of the
	// partition: find it after the descriptors (32 KiB aligned).
	found := false
	for off := 32768; off+4 < len(bad) && !found; off += 4096 {
		if string(bad[off:off+4]) == "hsqs" {
			copy(bad[off:], "XXXX")
			found = true
		}
	}
	if !found {
		t.Fatal("no squashfs magic in the test SIF: nothing to corrupt")
	}
	mustWrite(t, corrupt, bad)
	mustWrite(t, notSIF, []byte("#!/bin/sh\necho hi\n"))
	for _, c := range []struct{ path, msg string }{
		{truncated, "corrupt SIF file"},
		{corrupt, "does not hold a squashfs"},
		{notSIF, "not a SIF file"},
	} {
		mustFail(t, apptainer(t, "exec", c.path, "true"), c.msg)
		mustFail(t, apptainer(t, "instance", "start", "--boot", c.path, "bad1"), c.msg)
		assertNoLoop(t, c.path)
	}
	if loops := lines(cmdOut(t, "losetup", "-a")); len(loops) > 0 {
		t.Errorf("loop devices left:\n%s", strings.Join(loops, "\n"))
	}
}

// TestSIFDebootstrapExample boots the SIF built from
// examples/systemd-debian by scripts/e2e-example.sh (make e2e runs it before
// the tests: a debootstrap needs the mirror, which the tests' own network
// namespace cannot reach).
func TestSIFDebootstrapExample(t *testing.T) {
	sif := os.Getenv("APPTAINER_E2E_EXAMPLE_SIF")
	if sif == "" {
		t.Skip("APPTAINER_E2E_EXAMPLE_SIF is not set (make e2e builds it with scripts/e2e-example.sh)")
	}
	if r := apptainer(t, "hostnet", "audit", sif); r.Code != 0 {
		t.Errorf("the example applies the network overrides, but audit says:\n%s", r)
	}
	for _, mode := range [][]string{{"--boot", "--network", "none"}, {"--boot", "--boot-hostnet"}} {
		h := newFakeHost(t)
		before := h.snapshot(t)
		h.stopOnCleanup(t, "example1")
		r := h.apptainer(t, append(append([]string{"instance", "start"}, mode...), sif, "example1")...)
		mustSucceed(t, r, "boot the example "+strings.Join(mode, " "))
		if !strings.Contains(r.Stdout, "example1: running") {
			t.Errorf("%v: not running:\n%s", mode, r)
		}
		mustSucceed(t, h.apptainer(t, "instance", "stop", "example1"), "stop")
		assertUnchanged(t, "after the example ran", before, h.snapshot(t))
	}
}

func assertNoLoop(t *testing.T, file string) {
	t.Helper()
	if out := cmdOut(t, "losetup", "-j", file); len(strings.TrimSpace(out)) > 0 {
		t.Errorf("loop device left for %s:\n%s", file, out)
	}
}

func mustWrite(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestSIFBuildTwice builds one definition twice: both images hold the same
// files with the same sizes and modes, and both boot.
func TestSIFAudit(t *testing.T) {
	r := apptainer(t, "hostnet", "audit", testSIF(t))
	if r.Code != 1 || !strings.Contains(r.Stdout, "networking.service") {
		t.Errorf("audit of the unhardened SIF:\n%s", r)
	}
}

func TestSIFBuildTwice(t *testing.T) {
	def := filepath.Join(t.TempDir(), "twice.def")
	mustWrite(t, def, []byte(strings.Replace(testSIFDef, "%s", bootImage(t), 1)))
	var sums []string
	for i, out := range []string{filepath.Join(t.TempDir(), "a.sif"), filepath.Join(t.TempDir(), "b.sif")} {
		mustSucceed(t, apptainer(t, "build", out, def), "build")
		// pipefail: a find that fails must not hash as an empty listing.
		r := apptainer(t, "exec", out, "bash", "-o", "pipefail", "-c", "find / -xdev -printf '%p %s %m %l\\n' | sort | sha256sum")
		mustSucceed(t, r, "list the image")
		sums = append(sums, r.Stdout)
		h := newFakeHost(t)
		name := fmt.Sprintf("twice%d", i)
		h.stopOnCleanup(t, name)
		r = h.apptainer(t, "instance", "start", "--boot", "--boot-hostnet", out, name)
		mustSucceed(t, r, "boot "+out)
		if !strings.Contains(r.Stdout, name+": running") {
			t.Errorf("%s not running:\n%s", out, r)
		}
		mustSucceed(t, h.apptainer(t, "instance", "stop", name), "stop")
	}
	if sums[0] != sums[1] {
		t.Errorf("the two builds differ: %q vs %q", sums[0], sums[1])
	}
}
