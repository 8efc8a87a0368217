//go:build e2e

package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// busyboxSIF builds a SIF of the busybox rootfs for the test.
func busyboxSIF(t *testing.T) string {
	t.Helper()
	sif := filepath.Join(t.TempDir(), "busybox.sif")
	mustSucceed(t, apptainer(t, "build", sif, env.Busybox), "build a busybox SIF")
	return sif
}

// TestConfImageRestrictions: apptainer.conf's image restrictions refuse
// the images they name with upstream's messages, and each case has its
// control: the same command with the other kind of image, or with the
// image the directive admits, runs.
func TestConfImageRestrictions(t *testing.T) {
	sif := busyboxSIF(t)
	dir := filepath.Dir(env.Busybox)
	for _, tc := range []struct {
		conf, image, want string // want "" runs
	}{
		{"allow container dir = no", env.Busybox, "configuration disallows users from running sandbox containers"},
		{"allow container dir = no", sif, ""},
		{"allow container sif = no", sif, "configuration disallows users from running unencrypted SIF containers"},
		{"allow container sif = no", env.Busybox, ""},
		{"limit container paths = /nonexistent/images", env.Busybox, "apptainer image is not in an allowed configured path"},
		{"limit container paths = " + dir, env.Busybox, ""},
		{"limit container owners = nobody", env.Busybox, "apptainer image is not owned by required user(s)"},
		{"limit container owners = root", env.Busybox, ""},
		{"limit container groups = nogroup", sif, "apptainer image is not owned by required group(s)"},
		{"limit container groups = root", sif, ""},
	} {
		t.Run(tc.conf+" "+filepath.Base(tc.image), func(t *testing.T) {
			withConf(t, tc.conf)
			r := apptainer(t, "exec", tc.image, "echo", "ran")
			if tc.want == "" {
				mustSucceed(t, r, "exec")
				return
			}
			mustFail(t, r, tc.want)
			if strings.Contains(r.Stdout, "ran") {
				t.Errorf("the refused container ran:\n%s", r)
			}
		})
	}
}

// TestConfMountDirectives: "mount sys/dev/devpts" change what the
// container sees, each against the default as control.
func TestConfMountDirectives(t *testing.T) {
	for _, tc := range []struct {
		conf  string
		args  []string // before the image
		list  string   // directory listed inside
		entry string   // there by default, gone with conf
	}{
		{"mount sys = no", nil, "/sys", "kernel"},
		{"mount dev = minimal", nil, "/dev", "loop-control"},
		{"mount dev = no", nil, "/dev", "loop-control"},
		{"mount devpts = no", []string{"--contain"}, "/dev", "ptmx"},
	} {
		t.Run(tc.conf, func(t *testing.T) {
			args := append(append([]string{"exec"}, tc.args...), env.Busybox, "ls", "-a", tc.list)
			before := apptainer(t, args...)
			mustSucceed(t, before, "exec with the default conf")
			if !hasLine(before.Stdout, tc.entry) {
				t.Fatalf("control: %s lacks %s with the default conf:\n%s", tc.list, tc.entry, before)
			}
			withConf(t, tc.conf)
			after := apptainer(t, args...)
			mustSucceed(t, after, "exec with "+tc.conf)
			if hasLine(after.Stdout, tc.entry) {
				t.Errorf("%s: %s still has %s:\n%s", tc.conf, tc.list, tc.entry, after)
			}
		})
	}
}

func hasLine(out, line string) bool {
	for _, l := range strings.Split(out, "\n") {
		if strings.TrimSpace(l) == line {
			return true
		}
	}
	return false
}

// TestConfRefusesWhatItCannotHonour: a container without /proc, a booted
// instance without /sys and a root without an overlay are refused before
// anything starts.
func TestConfRefusesWhatItCannotHonour(t *testing.T) {
	t.Run("boot without sys", func(t *testing.T) {
		withConf(t, "mount sys = no")
		stopOnCleanup(t, "nosys1")
		mustFail(t, apptainer(t, "instance", "start", "--boot", env.Busybox, "nosys1"), `--boot needs /proc, /sys, /dev and /dev/pts, and apptainer.conf sets "mount sys = no"`)
		if l := apptainer(t, "instance", "list", "nosys1"); strings.Contains(l.Stdout, "nosys1") {
			t.Errorf("a refused instance is listed:\n%s", l)
		}
	})
	t.Run("mount proc = no", func(t *testing.T) {
		withConf(t, "mount proc = no")
		mustFail(t, apptainer(t, "exec", env.Busybox, "true"), `apptainer.conf sets "mount proc = no", which this build cannot honour`)
	})
	t.Run("enable overlay = no", func(t *testing.T) {
		withConf(t, "enable overlay = no")
		mustFail(t, apptainer(t, "exec", env.Busybox, "true"), `apptainer.conf sets "enable overlay = no"`)
		// --writable needs no overlay: honoured, it runs.
		mustSucceed(t, apptainer(t, "exec", "--writable", env.Busybox, "true"), "exec --writable")
	})
}

// TestConfigFlag: -c FILE and APPTAINER_CONFIG_FILE choose the file every
// command reads; a file that is missing or not root's is a clear error.
func TestConfigFlag(t *testing.T) {
	orig, err := os.ReadFile(filepath.Join(env.ConfDir, "apptainer.conf"))
	if err != nil {
		t.Fatal(err)
	}
	strict := filepath.Join(t.TempDir(), "strict.conf")
	if err := os.WriteFile(strict, append(orig, "\nallow container dir = no\n"...), 0o644); err != nil {
		t.Fatal(err)
	}
	const refused = "configuration disallows users from running sandbox containers"
	mustSucceed(t, apptainer(t, "exec", env.Busybox, "true"), "control: exec with the installed conf")
	mustFail(t, apptainer(t, "-c", strict, "exec", env.Busybox, "true"), refused)
	mustFail(t, apptainer(t, "--config", strict, "run", env.Busybox), refused)
	mustFail(t, apptainer(t, "-c", strict, "shell", env.Busybox, "-c", "true"), refused)
	mustFail(t, apptainerEnv(t, []string{"APPTAINER_CONFIG_FILE=" + strict}, "exec", env.Busybox, "true"), refused)
	stopOnCleanup(t, "conf1")
	mustFail(t, apptainer(t, "-c", strict, "instance", "start", env.Busybox, "conf1"), refused)

	mustFail(t, apptainer(t, "-c", "/nonexistent/apptainer.conf", "exec", env.Busybox, "true"), `failed to open configuration file "/nonexistent/apptainer.conf"`)
	notRoot := filepath.Join(t.TempDir(), "nobody.conf")
	if err := os.WriteFile(notRoot, orig, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(notRoot, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	mustFail(t, apptainer(t, "-c", notRoot, "exec", env.Busybox, "true"), "must be owned by root")
	// Commands that do not read the file still check the one named.
	mustFail(t, apptainer(t, "-c", "/nonexistent/apptainer.conf", "instance", "list"), `failed to open configuration file "/nonexistent/apptainer.conf"`)
	mustSucceed(t, apptainer(t, "-c", strict, "instance", "list"), "instance list with a valid -c file")
}
