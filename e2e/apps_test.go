//go:build e2e

package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const appsDef = `Bootstrap: localimage
From: %s

%%appfiles foo
    %s data/hostfile

%%appinstall foo
    echo "installed in $SCIF_APPROOT" > installed

%%appenv foo
    export FOOVAR=foo-env

%%apprun foo
    echo "foo runs with FOOVAR=$FOOVAR args=$*"

%%applabels foo
    Maintainer apps e2e

%%apphelp foo
    The foo app.

%%apprun bar
    echo "bar runs"
`

// TestSCIFApps: a definition's apps are built into /scif as upstream lays
// them out, and --app runs one with its environment.
func TestSCIFApps(t *testing.T) {
	dir := t.TempDir()
	hostFile := filepath.Join(dir, "hostfile")
	if err := os.WriteFile(hostFile, []byte("from the host\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	def := filepath.Join(dir, "apps.def")
	if err := os.WriteFile(def, []byte(fmt.Sprintf(appsDef, env.Busybox, hostFile)), 0o644); err != nil {
		t.Fatal(err)
	}
	img := filepath.Join(dir, "apps")
	mustSucceed(t, apptainer(t, "build", "--sandbox", img, def), "build with apps")

	out := func(args ...string) string {
		t.Helper()
		r := apptainer(t, args...)
		mustSucceed(t, r, strings.Join(args, " "))
		return strings.TrimSpace(r.Stdout)
	}
	if got := out("inspect", "--list-apps", img); got != "bar\nfoo" {
		t.Errorf("inspect --list-apps: %q", got)
	}
	if got := out("run", "--app", "foo", img, "x", "y"); got != "foo runs with FOOVAR=foo-env args=x y" {
		t.Errorf("run --app foo: %q", got)
	}
	if got := out("run", "--app", "bar", img); got != "bar runs" {
		t.Errorf("run --app bar: %q", got)
	}
	vars := out("exec", "--app", "foo", img, "env")
	for _, want := range []string{"FOOVAR=foo-env", "SCIF_APPNAME=foo", "SCIF_APPROOT=/scif/apps/foo", "APPTAINER_APPNAME=foo", "PATH=/scif/apps/foo/bin:/scif/apps/foo:"} {
		if !strings.Contains(vars, want) {
			t.Errorf("exec --app foo env lacks %q:\n%s", want, vars)
		}
	}
	if vars := out("exec", img, "env"); strings.Contains(vars, "FOOVAR") || strings.Contains(vars, "SCIF_APPNAME") {
		t.Errorf("control: without --app the app's environment applies:\n%s", vars)
	}
	if got := out("exec", img, "cat", "/scif/apps/foo/installed", "/scif/apps/foo/data/hostfile"); got != "installed in /scif/apps/foo\nfrom the host" {
		t.Errorf("%%appinstall and %%appfiles: %q", got)
	}
	if got := out("inspect", "--app", "foo", "--helpfile", img); got != "The foo app." {
		t.Errorf("inspect --app foo --helpfile: %q", got)
	}
	if got := out("inspect", "--app", "foo", img); !strings.Contains(got, "Maintainer: apps e2e") || !strings.Contains(got, "SCIF_APP_NAME: foo") {
		t.Errorf("inspect --app foo (labels): %q", got)
	}
	mustFail(t, apptainer(t, "run", "--app", "nosuch", img), `no app "nosuch"`)
	mustFail(t, apptainer(t, "inspect", "--app", "nosuch", img), `no app "nosuch"`)
}

// TestAttackBuildAppsLink: a source image whose /scif is a link to a host
// directory gets its apps inside the new image, not in that directory.
func TestAttackBuildAppsLink(t *testing.T) {
	hostDir := t.TempDir()
	src := filepath.Join(t.TempDir(), "src")
	if err := run("cp", "-a", env.Busybox, src); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(hostDir, filepath.Join(src, "scif")); err != nil {
		t.Fatal(err)
	}
	// Positive control: naive code that joins the image's path with
	// scif/apps lands in the host directory.
	naive := filepath.Join(src, "scif", "apps", "probe")
	if err := os.MkdirAll(naive, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(hostDir, "apps", "probe")); err != nil {
		t.Fatalf("control: the link does not lead to the host directory: %v", err)
	}
	if err := os.RemoveAll(filepath.Join(hostDir, "apps")); err != nil {
		t.Fatal(err)
	}
	hostFile := filepath.Join(t.TempDir(), "hostfile")
	if err := os.WriteFile(hostFile, []byte("x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	def := filepath.Join(t.TempDir(), "apps.def")
	if err := os.WriteFile(def, []byte(fmt.Sprintf(appsDef, src, hostFile)), 0o644); err != nil {
		t.Fatal(err)
	}
	r := apptainer(t, "build", "--sandbox", filepath.Join(t.TempDir(), "out"), def)
	entries, err := os.ReadDir(hostDir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) > 0 {
		t.Errorf("the build wrote into the host directory the image's /scif points to (%d entries); build:\n%s", len(entries), r)
	}
}
