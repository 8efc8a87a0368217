//go:build e2e

package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// compatCase is one command line and what upstream Apptainer answers: its
// exit code and a pattern of its standard error. Scripts read both, so
// they must not drift.
type compatCase struct {
	args string // {bb} is the busybox sandbox
	code int
	// stderr must match; once, when set, is a substring that must appear
	// exactly once (a failure is printed once, not as ERROR then FATAL).
	stderr string
	once   string
	// stdout, when set, must match standard output.
	stdout string
}

var compatCases = []compatCase{
	// Usage errors: the command's name, the usage, exit 1.
	{args: "exec", code: 1, stderr: `(?s)^Error for command "exec": requires at least 2 arg\(s\), only received 0\n\nUsage:\n  apptainer exec`},
	{args: "run", code: 1, stderr: `(?s)^Error for command "run": requires at least 1 arg\(s\), only received 0\n\nUsage:`},
	{args: "instance start {bb}", code: 1, stderr: `(?s)^Error for command "start": requires at least 2 arg\(s\), only received 1\n\nUsage:`},
	{args: "exec --no-such-flag {bb} true", code: 1, stderr: `(?s)^Error for command "exec": unknown flag: --no-such-flag\n\nUsage:`},
	{args: "instance stop nosuch", code: 1, stderr: `(?s)^Error for command "stop": no instance found\n\nUsage:.*Run 'apptainer --help' for more detailed usage information\.\n$`},
	// --sharens: only for images, not instance:// (sharens_test.go).
	{args: "exec --sharens instance://x true", code: 1, stderr: `(?s)^Error for command "exec": --sharens cannot be used with an instance:// image\n\nUsage:`},
	// Failures of the container: one FATAL line, exit 255.
	{args: "exec {bb} /nonexistent", code: 255, stderr: `^FATAL: +/nonexistent: no such file or directory\n$`, once: "/nonexistent: no such file or directory"},
	{args: "exec {bb} nonexistent", code: 255, stderr: `^FATAL: +nonexistent: executable file not found in \$PATH\n$`, once: "executable file not found"},
	// An image URI is a transport this build lacks, not a relative path.
	{args: "exec shub://busybox true", code: 255, stderr: `^FATAL: +image "shub://busybox": transport "shub" is not supported by this build`},
	{args: "inspect oras://ghcr.io/x/y:1", code: 255, stderr: `transport "oras" is not supported by this build`},
	{args: "exec /nonexistent/image true", code: 255, stderr: `^FATAL: +could not open image /nonexistent/image: no such file or directory\n$`},
	{args: "-c /nonexistent/apptainer.conf exec {bb} true", code: 255, stderr: `^FATAL: +failed to open configuration file "/nonexistent/apptainer.conf"`},
	// -d says what was decided.
	{args: "-d exec {bb} true", code: 0, stderr: `(?s)DEBUG: +Namespaces: mount.*DEBUG: +Mount: .* on /proc type .*DEBUG: +Process: the action script \(image environment\), then true\n`},
	// JSON for scripts, indented with tabs as upstream's.
	{args: "inspect --json {bb}", code: 0, stderr: `^$`, stdout: "^\\{\n\t\"data\": \\{\n\t\t\"attributes\": \\{"},
	// The container's own exit code passes through.
	{args: "exec {bb} sh -c 'exit 3'", code: 3, stderr: `^$`},
}

// apptainerFromRoot runs the binary under test from /, which every image
// has (the caller's directory is the container's, and a missing one is
// warned about), with exactly the environment environ.
func apptainerFromRoot(t *testing.T, environ []string, args ...string) result {
	t.Helper()
	cmd := exec.Command(env.Bin, args...)
	cmd.Dir = "/"
	cmd.Env = environ
	return runResult(t, cmd)
}

func TestCompat(t *testing.T) {
	for _, c := range compatCases {
		t.Run(c.args, func(t *testing.T) {
			args := splitArgs(strings.ReplaceAll(c.args, "{bb}", env.Busybox))
			r := apptainerFromRoot(t, []string{"HOME=" + env.Home, "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C"}, args...)
			if r.Code != c.code {
				t.Errorf("exit %d, want %d:\n%s", r.Code, c.code, r)
			}
			if !regexp.MustCompile(c.stderr).MatchString(r.Stderr) {
				t.Errorf("stderr does not match %q:\n%s", c.stderr, r.Stderr)
			}
			if c.stdout != "" && !regexp.MustCompile(c.stdout).MatchString(r.Stdout) {
				t.Errorf("stdout does not match %q:\n%s", c.stdout, r.Stdout)
			}
			if c.once != "" && strings.Count(r.Stderr, c.once) != 1 {
				t.Errorf("%q printed %d times, want once:\n%s", c.once, strings.Count(r.Stderr, c.once), r.Stderr)
			}
		})
	}
}

// splitArgs splits a command line on spaces, keeping 'single-quoted'
// words whole.
func splitArgs(s string) []string {
	var out []string
	for len(s) > 0 {
		s = strings.TrimLeft(s, " ")
		if s == "" {
			break
		}
		if s[0] == '\'' {
			end := strings.IndexByte(s[1:], '\'')
			out = append(out, s[1:1+end])
			s = s[2+end:]
			continue
		}
		word, rest, _ := strings.Cut(s, " ")
		out = append(out, word)
		s = rest
	}
	return out
}

// envDef is a definition whose environment comes from %environment and
// from %post through $APPTAINER_ENVIRONMENT, as upstream's users write.
const envDef = `Bootstrap: localimage
From: %s

%%environment
    export IMGVAR=fromimage
    export PATH=/opt/img/bin:$PATH
    export FOO=image-foo
    export EMPTIED=

%%post
    echo 'export POSTVAR=frompost' >> "$APPTAINER_ENVIRONMENT"
    mkdir -p /opt/img/bin

%%runscript
    echo "runscript sees IMGVAR=$IMGVAR args=$*"

%%startscript
    exec sleep 3600

%%test
    test "$IMGVAR" = fromimage
`

// envImage builds envDef from the busybox rootfs, as a sandbox.
func envImage(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	def := filepath.Join(dir, "env.def")
	if err := os.WriteFile(def, []byte(fmt.Sprintf(envDef, env.Busybox)), 0o644); err != nil {
		t.Fatal(err)
	}
	img := filepath.Join(dir, "env")
	mustSucceed(t, apptainer(t, "build", "--sandbox", img, def), "build the environment image")
	return img
}

// TestCompatEnvironment: `exec IMAGE env` shows what upstream's does for
// an image built from envDef, for the variables scripts rely on.
func TestCompatEnvironment(t *testing.T) {
	img := envImage(t)
	callerPath := "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	imagePath := "/opt/img/bin:" + callerPath
	run := func(t *testing.T, extra []string, args ...string) map[string]string {
		t.Helper()
		r := apptainerFromRoot(t, append([]string{"HOME=" + env.Home, "PATH=" + callerPath, "LANG=C", "FOO=host-foo", "EMPTIED=host", "HOSTONLY=kept"}, extra...), args...)
		mustSucceed(t, r, strings.Join(args, " "))
		vars := map[string]string{}
		for _, l := range strings.Split(strings.TrimSpace(r.Stdout), "\n") {
			if k, v, ok := strings.Cut(l, "="); ok {
				vars[k] = v
			}
		}
		return vars
	}
	check := func(t *testing.T, got map[string]string, want map[string]string, absent ...string) {
		t.Helper()
		for k, v := range want {
			if g, ok := got[k]; !ok || g != v {
				t.Errorf("%s=%q (set %v), want %q", k, g, ok, v)
			}
		}
		for _, k := range absent {
			if v, ok := got[k]; ok {
				t.Errorf("%s=%q is set, want it unset", k, v)
			}
		}
	}
	t.Run("exec", func(t *testing.T) {
		got := run(t, nil, "exec", img, "env")
		check(t, got, map[string]string{
			"IMGVAR":                  "fromimage",
			"POSTVAR":                 "frompost",
			"PATH":                    imagePath,
			"FOO":                     "image-foo", // the image's value wins over the caller's
			"HOSTONLY":                "kept",
			"LANG":                    "C",
			"LD_LIBRARY_PATH":         "/.singularity.d/libs",
			"PS1":                     "Apptainer> ",
			"PROMPT_COMMAND":          `PS1="Apptainer> "; unset PROMPT_COMMAND`,
			"USER_PATH":               callerPath + ":/bin:/usr/bin:/sbin:/usr/sbin:/usr/local/bin:/usr/local/sbin",
			"APPTAINER_COMMAND":       "exec",
			"APPTAINER_APPNAME":       "",
			"APPTAINER_CONTAINER":     img,
			"APPTAINER_NAME":          filepath.Base(img),
			"APPTAINER_ENVIRONMENT":   "/.singularity.d/env/91-environment.sh",
			"SINGULARITY_ENVIRONMENT": "/.singularity.d/env/91-environment.sh",
			"PWD":                     "/",
			"HOME":                    "/root",
		}, "EMPTIED")
		for k := range got {
			if strings.HasPrefix(strings.ToUpper(k), "__APPTAINER") {
				t.Errorf("the runtime's helper %s reaches the command", k)
			}
		}
	})
	t.Run("forced", func(t *testing.T) {
		got := run(t, []string{"APPTAINERENV_FOO=forced-$IMGVAR", "APPTAINERENV_PREPEND_PATH=/pre", "APPTAINERENV_APPEND_PATH=/post", "APPTAINERENV_LD_LIBRARY_PATH=/opt/lib"},
			"exec", "--env", "X=from-flag", img, "env")
		check(t, got, map[string]string{
			"FOO":             "forced-fromimage", // evaluated once, after the image's scripts
			"X":               "from-flag",
			"PATH":            "/pre:" + imagePath + ":/post",
			"LD_LIBRARY_PATH": "/opt/lib:/.singularity.d/libs",
		})
		got = run(t, []string{"APPTAINERENV_PATH=/only"}, "exec", img, "/bin/env")
		check(t, got, map[string]string{"PATH": "/only"})
	})
	t.Run("control: an image without environment scripts", func(t *testing.T) {
		got := run(t, nil, "exec", env.Busybox, "env")
		check(t, got, map[string]string{"FOO": "host-foo", "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}, "IMGVAR", "POSTVAR")
	})
	t.Run("run", func(t *testing.T) {
		r := apptainerFromRoot(t, []string{"HOME=" + env.Home, "PATH=" + callerPath}, "run", img, "a", "b")
		mustSucceed(t, r, "run")
		if strings.TrimSpace(r.Stdout) != "runscript sees IMGVAR=fromimage args=a b" {
			t.Errorf("run: %q", r.Stdout)
		}
	})
	t.Run("instance join", func(t *testing.T) {
		stopOnCleanup(t, "envinst1")
		mustSucceed(t, apptainer(t, "instance", "start", img, "envinst1"), "instance start")
		got := run(t, nil, "exec", "instance://envinst1", "env")
		check(t, got, map[string]string{"IMGVAR": "fromimage", "POSTVAR": "frompost", "PATH": imagePath, "APPTAINER_COMMAND": "exec"})
		mustSucceed(t, apptainer(t, "instance", "stop", "envinst1"), "instance stop")
	})
}

// TestEverydayFlags: the flags a switching user types, against the same
// command without them.
func TestEverydayFlags(t *testing.T) {
	img := envImage(t)
	runIn := func(t *testing.T, umask int, extra []string, args ...string) string {
		t.Helper()
		cmd := exec.Command("sh", append([]string{"-c", fmt.Sprintf("umask %03o; exec \"$@\"", umask), "sh", env.Bin}, args...)...)
		cmd.Dir = "/"
		cmd.Env = append([]string{"HOME=" + env.Home, "PATH=/usr/sbin:/usr/bin:/sbin:/bin"}, extra...)
		r := runResult(t, cmd)
		mustSucceed(t, r, strings.Join(args, " "))
		return strings.TrimSpace(r.Stdout)
	}
	if got := runIn(t, 0o22, nil, "exec", "--cwd", "/etc", img, "pwd"); got != "/etc" {
		t.Errorf("--cwd /etc: pwd %q", got)
	}
	if got := runIn(t, 0o77, nil, "exec", img, "sh", "-c", "umask"); got != "0077" {
		t.Errorf("control: the caller's umask 077 is %q inside", got)
	}
	if got := runIn(t, 0o77, nil, "exec", "--no-umask", img, "sh", "-c", "umask"); got != "0022" {
		t.Errorf("--no-umask: umask %q", got)
	}
	if got := runIn(t, 0o22, []string{"APPTAINERENV_LIT=$IMGVAR"}, "exec", img, "sh", "-c", "echo $LIT"); got != "fromimage" {
		t.Errorf("control: APPTAINERENV_LIT=$IMGVAR gives %q, want it evaluated", got)
	}
	if got := runIn(t, 0o22, []string{"APPTAINERENV_LIT=$IMGVAR"}, "exec", "--no-eval", img, "sh", "-c", "echo $LIT"); got != "$IMGVAR" {
		t.Errorf("--no-eval: %q", got)
	}
	envFile := filepath.Join(t.TempDir(), "vars")
	if err := os.WriteFile(envFile, []byte("# site settings\nFROMFILE=yes\nexport FOO='file foo'\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := runIn(t, 0o22, nil, "exec", "--env-file", envFile, img, "sh", "-c", `echo "$FROMFILE $FOO"`); got != "yes file foo" {
		t.Errorf("--env-file: %q", got)
	}
	if got := runIn(t, 0o22, nil, "exec", "--scratch", "/scratch", img, "sh", "-c", "touch /scratch/x && ls /scratch"); got != "x" {
		t.Errorf("--scratch: %q", got)
	}
	share := t.TempDir()
	if err := os.WriteFile(filepath.Join(share, "f"), []byte("shared\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := runIn(t, 0o22, nil, "exec", "--mount", "type=bind,src="+share+",dst=/mnt/m,readonly", img, "sh", "-c", "cat /mnt/m/f; touch /mnt/m/g 2>/dev/null || echo read-only"); got != "shared\nread-only" {
		t.Errorf("--mount ...,readonly: %q", got)
	}
	if got := runIn(t, 0o22, nil, "exec", "--mount", "type=bind,src="+share+",dst=/mnt/m", img, "sh", "-c", "touch /mnt/m/g && echo written"); got != "written" {
		t.Errorf("control: --mount without readonly: %q", got)
	}
	odd := filepath.Join(t.TempDir(), "a,b")
	if err := os.MkdirAll(odd, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(odd, "f"), []byte("odd\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	spec := strings.ReplaceAll(odd, ",", `\,`) + `:/mnt/x\:y`
	if got := runIn(t, 0o22, nil, "exec", "--bind", spec, img, "cat", "/mnt/x:y/f"); got != "odd" {
		t.Errorf("--bind with escaped comma and colon: %q", got)
	}
	if got := runIn(t, 0o22, nil, "exec", img, "ls", "/sys"); got == "" {
		t.Errorf("control: /sys is empty by default")
	}
	if got := runIn(t, 0o22, nil, "exec", "--no-mount", "sys", img, "ls", "/sys"); got != "" {
		t.Errorf("--no-mount sys: /sys has %q", got)
	}
}

// TestCompatInspect: inspect's short forms, --test and --all, and the
// global -s.
func TestCompatInspect(t *testing.T) {
	img := envImage(t)
	r := apptainer(t, "inspect", "-d", img)
	mustSucceed(t, r, "inspect -d")
	if !strings.HasPrefix(r.Stdout, "Bootstrap: localimage") {
		t.Errorf("inspect -d: %q", r.Stdout)
	}
	r = apptainer(t, "inspect", "-s", img)
	if !strings.Contains(r.Stdout, "exec sleep 3600") {
		t.Errorf("inspect -s: %q", r.Stdout)
	}
	r = apptainer(t, "inspect", "--test", img)
	if !strings.Contains(r.Stdout, `test "$IMGVAR" = fromimage`) {
		t.Errorf("inspect --test: %q", r.Stdout)
	}
	r = apptainer(t, "inspect", "--all", img)
	mustSucceed(t, r, "inspect --all")
	var doc struct {
		Data struct {
			Attributes map[string]any `json:"attributes"`
		} `json:"data"`
	}
	if err := json.Unmarshal([]byte(r.Stdout), &doc); err != nil {
		t.Fatalf("inspect --all is not JSON: %v\n%s", err, r.Stdout)
	}
	for _, k := range []string{"deffile", "runscript", "startscript", "environment", "test", "labels"} {
		if _, ok := doc.Data.Attributes[k]; !ok {
			t.Errorf("inspect --all lacks %s: %v", k, doc.Data.Attributes)
		}
	}
	// -s before the command is --silent: the warning of a repeated
	// directive goes, the error stays.
	withConf(t, "mount tmp = yes")
	if r := apptainer(t, "exec", img, "true"); !strings.Contains(r.Stderr, "WARNING") {
		t.Fatalf("control: no warning without -s:\n%s", r)
	}
	if r := apptainer(t, "-s", "exec", img, "true"); r.Code != 0 || strings.Contains(r.Stderr, "WARNING") {
		t.Errorf("-s exec: %s", r)
	}
	// The image's test script runs with the image's environment.
	mustSucceed(t, apptainer(t, "exec", img, "/.singularity.d/test"), "the test script")
}

// TestOverlayDirectory: a writable --overlay directory keeps what the
// container writes, outside the image; a :ro one adds its files.
func TestOverlayDirectory(t *testing.T) {
	ov, ro := t.TempDir(), t.TempDir()
	if err := os.WriteFile(filepath.Join(ro, "rofile"), []byte("from ro layer\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	mustSucceed(t, apptainer(t, "exec", "--overlay", ov, env.Busybox, "sh", "-c", "echo kept > /newfile"), "write through the overlay")
	r := apptainer(t, "exec", "--overlay", ov, env.Busybox, "cat", "/newfile")
	if strings.TrimSpace(r.Stdout) != "kept" {
		t.Errorf("a second container with the overlay: %s", r)
	}
	if _, err := os.Stat(filepath.Join(ov, "upper", "newfile")); err != nil {
		t.Errorf("the write is not in the overlay's upper directory: %v", err)
	}
	if _, err := os.Stat(filepath.Join(env.Busybox, "newfile")); err == nil {
		t.Errorf("the write reached the image")
	}
	if r := apptainer(t, "exec", env.Busybox, "cat", "/newfile"); r.Code == 0 {
		t.Errorf("control: /newfile exists without the overlay")
	}
	r = apptainer(t, "exec", "--overlay", ro+":ro", env.Busybox, "sh", "-c", "cat /rofile; touch /x 2>/dev/null || echo read-only")
	if got := strings.TrimSpace(r.Stdout); got != "from ro layer\nread-only" {
		t.Errorf("--overlay DIR:ro: %q", got)
	}
	f := filepath.Join(t.TempDir(), "overlay.img")
	if err := os.WriteFile(f, make([]byte, 4096), 0o644); err != nil {
		t.Fatal(err)
	}
	mustFail(t, apptainer(t, "exec", "--overlay", f, env.Busybox, "true"), "want a directory or an ext3 overlay image")
}

// TestOverlayImage: an ext3 overlay image keeps what the container writes
// in the image file; :ro shows it; no loop device stays attached.
func TestOverlayImage(t *testing.T) {
	img := filepath.Join(t.TempDir(), "overlay.img")
	if out, err := exec.Command("mkfs.ext3", "-q", "-F", img, "32M").CombinedOutput(); err != nil {
		t.Fatalf("mkfs.ext3: %v: %s", err, out)
	}
	mustSucceed(t, apptainer(t, "exec", "--overlay", img, env.Busybox, "sh", "-c", "echo in-image > /kept"), "write through the overlay image")
	if r := apptainer(t, "exec", "--overlay", img, env.Busybox, "cat", "/kept"); strings.TrimSpace(r.Stdout) != "in-image" {
		t.Errorf("a second container with the overlay image: %s", r)
	}
	if r := apptainer(t, "exec", "--overlay", img+":ro", env.Busybox, "sh", "-c", "cat /kept; touch /y 2>/dev/null || echo read-only"); strings.TrimSpace(r.Stdout) != "in-image\nread-only" {
		t.Errorf("--overlay IMG:ro: %s", r)
	}
	if r := apptainer(t, "exec", env.Busybox, "cat", "/kept"); r.Code == 0 {
		t.Errorf("control: /kept exists without the overlay image")
	}
	if _, err := os.Stat(filepath.Join(env.Busybox, "kept")); err == nil {
		t.Errorf("the write reached the image")
	}
	if out, _ := exec.Command("losetup", "-j", img).Output(); strings.TrimSpace(string(out)) != "" {
		t.Errorf("loop devices left on the overlay image: %s", out)
	}
}

// TestCompatEnvironmentSIF: a SIF built from envDef carries its
// environment too.
func TestCompatEnvironmentSIF(t *testing.T) {
	dir := t.TempDir()
	def := filepath.Join(dir, "env.def")
	if err := os.WriteFile(def, []byte(fmt.Sprintf(envDef, env.Busybox)), 0o644); err != nil {
		t.Fatal(err)
	}
	sif := filepath.Join(dir, "env.sif")
	mustSucceed(t, apptainer(t, "build", sif, def), "build the environment SIF")
	r := apptainerFromRoot(t, []string{"HOME=" + env.Home, "PATH=/usr/bin:/bin"}, "exec", sif, "sh", "-c", `echo "$IMGVAR $POSTVAR $PATH"`)
	mustSucceed(t, r, "exec the SIF")
	if got := strings.TrimSpace(r.Stdout); got != "fromimage frompost /opt/img/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" {
		t.Errorf("SIF environment: %q", got)
	}
}

// TestBuildSandboxUnsquashfsPartial: unsquashfs exits 2 when it could not
// create some files (device nodes where mknod is refused); the build warns
// and goes on, as upstream's. A failure with any other status still fails.
func TestBuildSandboxUnsquashfsPartial(t *testing.T) {
	sif := busyboxSIF(t)
	real, err := exec.LookPath("unsquashfs")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		status int
		ok     bool
	}{{2, true}, {1, false}} {
		bin := t.TempDir()
		fake := fmt.Sprintf("#!/bin/sh\n%s \"$@\" || exit $?\nexit %d\n", real, tc.status)
		if err := os.WriteFile(filepath.Join(bin, "unsquashfs"), []byte(fake), 0o755); err != nil {
			t.Fatal(err)
		}
		out := filepath.Join(t.TempDir(), "sandbox")
		r := apptainerEnv(t, []string{"PATH=" + bin + ":/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}, "build", "--sandbox", out, sif)
		if tc.ok {
			mustSucceed(t, r, "build --sandbox with unsquashfs exiting 2")
			if !strings.Contains(r.Stderr, "WARNING") || !strings.Contains(r.Stderr, "exit status 2") {
				t.Errorf("no warning:\n%s", r)
			}
			if _, err := os.Stat(filepath.Join(out, "bin", "busybox")); err != nil {
				t.Errorf("the sandbox lacks the image's files: %v", err)
			}
			continue
		}
		if r.Code == 0 {
			t.Errorf("control: unsquashfs exiting 1 did not fail the build:\n%s", r)
		}
	}
}

// logsDef is upstream's e2e image in miniature: the runscript says what
// it runs, the startscript says it started, and both stay up.
const logsDef = `Bootstrap: localimage
From: %s

%%runscript
    echo "Running command: $*"
    echo "runscript to stderr" >&2
    exec "$@"

%%startscript
    echo "startscript args: $*"
    echo "startscript to stderr" >&2
    exec sleep 3600
`

// TestCompatInstanceLogs: `instance run` writes the runscript's output,
// and `instance start` the startscript's, to upstream's log files
// (~/.apptainer/instances/logs/HOST/USER/NAME.out and .err), which
// `instance list --logs` names and which outlive the instance.
func TestCompatInstanceLogs(t *testing.T) {
	dir := t.TempDir()
	def := filepath.Join(dir, "logs.def")
	if err := os.WriteFile(def, []byte(fmt.Sprintf(logsDef, env.Busybox)), 0o644); err != nil {
		t.Fatal(err)
	}
	img := filepath.Join(dir, "logs")
	mustSucceed(t, apptainer(t, "build", "--sandbox", img, def), "build the logs image")
	host, _ := os.Hostname()
	logDir := filepath.Join(env.Home, ".apptainer", "instances", "logs", host, "root")
	for _, tc := range []struct {
		cmd, name       string
		args            []string
		wantOut, wantEr string
	}{
		{"run", "logsrun", []string{"sleep", "3600"}, "Running command: sleep 3600\n", "runscript to stderr\n"},
		{"start", "logsstart", []string{"a", "b"}, "startscript args: a b\n", "startscript to stderr\n"},
	} {
		t.Run(tc.cmd, func(t *testing.T) {
			stopOnCleanup(t, tc.name)
			out, errLog := filepath.Join(logDir, tc.name+".out"), filepath.Join(logDir, tc.name+".err")
			_ = os.Remove(out)
			_ = os.Remove(errLog)
			mustSucceed(t, apptainer(t, append([]string{"instance", tc.cmd, img, tc.name}, tc.args...)...), "instance "+tc.cmd)
			for _, l := range []struct{ path, want string }{{out, tc.wantOut}, {errLog, tc.wantEr}} {
				waitFor(t, 30*time.Second, l.want+" in "+l.path, func() (bool, string) {
					b, err := os.ReadFile(l.path)
					if err != nil {
						return false, err.Error()
					}
					return strings.Contains(string(b), l.want), string(b)
				})
			}
			r := apptainer(t, "instance", "list", "--logs", tc.name)
			mustSucceed(t, r, "instance list --logs")
			if !strings.Contains(r.Stdout, out) || !strings.Contains(r.Stdout, errLog) {
				t.Errorf("instance list --logs does not name %s and %s:\n%s", out, errLog, r.Stdout)
			}
			mustSucceed(t, apptainer(t, "instance", "stop", tc.name), "instance stop")
			if !waitGone(tc.name, 30*time.Second) {
				t.Fatalf("%s still runs after instance stop", tc.name)
			}
			if b, err := os.ReadFile(out); err != nil || !strings.Contains(string(b), tc.wantOut) {
				t.Errorf("the log did not outlive the instance: %q, %v", b, err)
			}
		})
	}
}

// TestCompatInstanceListNoMatch: listing a name that matches nothing
// succeeds with an empty list, as upstream's (scripts poll it after a
// stop); an empty name matches nothing, not every instance.
func TestCompatInstanceListNoMatch(t *testing.T) {
	const name = "nomatch1"
	stopOnCleanup(t, name)
	mustSucceed(t, apptainer(t, "instance", "start", env.Busybox, name), "instance start")
	for _, args := range [][]string{{"--json", "nosuch"}, {"--all", "--json", "nosuch*"}, {"--json", ""}} {
		r := apptainer(t, append([]string{"instance", "list"}, args...)...)
		if r.Code != 0 || r.Stdout != "{\n\t\"instances\": []\n}\n" || r.Stderr != "" {
			t.Errorf("instance list %q: want exit 0 and an empty JSON list:\n%s", args, r)
		}
	}
	for _, args := range [][]string{{"nosuch"}, {""}} {
		r := apptainer(t, append([]string{"instance", "list"}, args...)...)
		if r.Code != 0 || strings.TrimSpace(r.Stdout) != "INSTANCE NAME    PID    IP    IMAGE" {
			t.Errorf("instance list %q: want exit 0 and the header alone:\n%s", args, r)
		}
	}
	// Control: the instance is listed by its name.
	r := apptainer(t, "instance", "list", "--json", name)
	if r.Code != 0 || !strings.Contains(r.Stdout, `"instance": "`+name+`"`) {
		t.Errorf("control: instance list --json %s:\n%s", name, r)
	}
	// `instance stop ""` (an empty variable in a script) stops nothing.
	mustFail(t, apptainer(t, "instance", "stop", ""), "no instance found")
	if !monitorRunning(name) {
		t.Errorf("instance stop \"\" stopped %s", name)
	}
	mustSucceed(t, apptainer(t, "instance", "stop", name), "instance stop")
}

// imageBindFixture is the images of TestImageBind: a squashfs file and an
// ext3 file, each holding a marker, and SIFs carrying them as data
// partitions, made as upstream's test makes them (`sif new`, `sif add`).
type imageBindFixture struct {
	squash, ext3, sifSquash, sifExt3, sandbox string
}

func makeImageBindFixture(t *testing.T) imageBindFixture {
	t.Helper()
	dir := t.TempDir()
	content := filepath.Join(dir, "content")
	for _, d := range []string{"sub", "etc"} {
		if err := os.MkdirAll(filepath.Join(content, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	files := map[string]string{"squash_marker": "in squashfs\n", "sub/deep": "deep\n", "etc/hostname": "image-etc\n"}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(content, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// Hostile links: absolute and climbing, both aimed at the host's /etc.
	for name, target := range map[string]string{"abs": "/etc", "climb": "../../../../../../etc"} {
		if err := os.Symlink(target, filepath.Join(content, name)); err != nil {
			t.Fatal(err)
		}
	}
	f := imageBindFixture{
		squash: filepath.Join(dir, "data.sqfs"), ext3: filepath.Join(dir, "data.ext3"),
		sifSquash: filepath.Join(dir, "squash.sif"), sifExt3: filepath.Join(dir, "ext3.sif"), sandbox: content,
	}
	for _, c := range [][]string{
		{"mksquashfs", content, f.squash, "-noappend", "-quiet", "-no-progress"},
		{"mkfs.ext3", "-q", "-F", f.ext3, "8M"},
	} {
		if out, err := exec.Command(c[0], c[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%s: %v: %s", c[0], err, out)
		}
	}
	for _, s := range []struct{ sif, img, fs string }{{f.sifSquash, f.squash, "1"}, {f.sifExt3, f.ext3, "2"}} {
		mustSucceed(t, apptainer(t, "sif", "new", s.sif), "sif new")
		mustSucceed(t, apptainer(t, "sif", "add", "--datatype", "4", "--partarch", "2", "--partfs", s.fs, "--parttype", "3", s.sif, s.img), "sif add")
	}
	return f
}

// TestImageBind: --bind SRC:DST:image-src=PATH (and id=N, and --mount's
// image-src=/id=) binds from inside a squashfs or ext3 image or a SIF's
// partition, with upstream's exit codes; ext3 is writable unless ro, and
// locked against a second writer; nothing stays attached.
func TestImageBind(t *testing.T) {
	f := makeImageBindFixture(t)
	sif := busyboxSIF(t)
	rootID := sifPrimaryID(t, sif)
	sq, ext, sifSq, sifExt := f.squash, f.ext3, f.sifSquash, f.sifExt3
	for _, tc := range []struct {
		name string
		args []string
		code int
		// stderr, when set, must be in standard error.
		stderr string
	}{
		{"NoBindOption", []string{"--bind", sq + ":/bind", env.Busybox, "test", "-f", "/bind/squash_marker"}, 1, ""},
		{"BadIDValue", []string{"--bind", sq + ":/bind:id=0", env.Busybox, "true"}, 255, "greater than 0"},
		{"BadBindOption", []string{"--bind", sq + ":/bind:fake_option=fake", env.Busybox, "true"}, 255, `bind option "fake_option=fake" is not supported`},
		{"SandboxKO", []string{"--bind", f.sandbox + ":/bind:image-src=/", env.Busybox, "true"}, 255, "a directory is not a SIF, squashfs or ext3 image"},
		{"NotAnImage", []string{"--bind", filepath.Join(f.sandbox, "squash_marker") + ":/bind:image-src=/", env.Busybox, "true"}, 255, "not a SIF, squashfs or ext3 image"},
		{"SquashfsBadSource", []string{"--bind", sq + ":/bind:image-src=/ko", env.Busybox, "true"}, 255, "/ko doesn't exist in image " + sq},
		{"Squashfs", []string{"--bind", sq + ":/bind:image-src=/", env.Busybox, "test", "-f", "/bind/squash_marker"}, 0, ""},
		{"SquashfsSubdir", []string{"--bind", sq + ":/bind:image-src=/sub", env.Busybox, "test", "-f", "/bind/deep"}, 0, ""},
		{"SquashfsReadOnly", []string{"--bind", sq + ":/bind:image-src=/", env.Busybox, "touch", "/bind/x"}, 1, ""},
		{"SquashfsDouble", []string{"--bind", sq + ":/bind1:image-src=/", "--bind", sq + ":/bind2:image-src=/", env.Busybox, "test", "-f", "/bind1/squash_marker", "-a", "-f", "/bind2/squash_marker"}, 0, ""},
		{"SquashfsMixedBind", []string{"--bind", sq + ":/bind1:image-src=/", "--bind", f.sandbox + ":/bind2", env.Busybox, "test", "-f", "/bind1/squash_marker", "-a", "-f", "/bind2/squash_marker"}, 0, ""},
		{"Ext3Write", []string{"--bind", ext + ":/bind:image-src=/", env.Busybox, "touch", "/bind/ext3_marker"}, 0, ""},
		{"Ext3WriteKO", []string{"--bind", ext + ":/bind:image-src=/,ro", env.Busybox, "touch", "/bind/ext3_marker2"}, 1, ""},
		{"Ext3Read", []string{"--bind", ext + ":/bind:image-src=/,ro", env.Busybox, "test", "-f", "/bind/ext3_marker"}, 0, ""},
		{"Ext3Double", []string{"--bind", ext + ":/bind1:image-src=/", "--bind", ext + ":/bind2:image-src=/", env.Busybox, "true"}, 255, "currently in use"},
		{"Ext3DoubleReadOnly", []string{"--bind", ext + ":/bind1:image-src=/,ro", "--bind", ext + ":/bind2:image-src=/,ro", env.Busybox, "test", "-f", "/bind2/ext3_marker"}, 0, ""},
		{"SifDataExt3Write", []string{"--bind", sifExt + ":/bind:image-src=/", env.Busybox, "touch", "/bind/ext3_marker"}, 0, ""},
		{"SifDataSquash", []string{"--bind", sifSq + ":/bind:image-src=/", env.Busybox, "test", "-f", "/bind/squash_marker"}, 0, ""},
		{"SifDataExt3Read", []string{"--bind", sifExt + ":/bind:image-src=/", env.Busybox, "test", "-f", "/bind/ext3_marker"}, 0, ""},
		{"SifDataExt3AndSquash", []string{"--bind", sifExt + ":/ext3:image-src=/", "--bind", sifSq + ":/squash:image-src=/", env.Busybox, "test", "-f", "/squash/squash_marker", "-a", "-f", "/ext3/ext3_marker"}, 0, ""},
		{"SifDataExt3Double", []string{"--bind", sifExt + ":/bind1:image-src=/", "--bind", sifExt + ":/bind2:image-src=/", env.Busybox, "true"}, 255, "currently in use"},
		{"SifWithID", []string{"--bind", sif + ":/rootfs:id=" + rootID, env.Busybox, "test", "-x", "/rootfs/bin/busybox"}, 0, ""},
		{"SifNoSuchID", []string{"--bind", sif + ":/rootfs:id=99", env.Busybox, "true"}, 255, "no partition with id 99"},
		{"SifNoDataPartition", []string{"--bind", sif + ":/rootfs:image-src=/", env.Busybox, "true"}, 255, "no data partition found in " + sif},
		{"SquashfsBeforeScratch", []string{"--bind", sifSq + ":/scratch/bin:image-src=/", "--bind", f.sandbox + ":/scratch", env.Busybox, "test", "-f", "/scratch/bin/squash_marker"}, 0, ""},
		{"ScratchBeforeSquashfs", []string{"--bind", f.sandbox + ":/scratch", "--bind", sifSq + ":/scratch/bin:image-src=/", env.Busybox, "test", "-f", "/scratch/bin/squash_marker"}, 0, ""},
		{"MountSifWithID", []string{"--mount", "type=bind,source=" + sif + ",destination=/rootfs,id=" + rootID, env.Busybox, "test", "-d", "/rootfs/etc"}, 0, ""},
		{"MountSifDataExt3AndSquash", []string{"--mount", "type=bind,source=" + sifExt + ",destination=/ext3,image-src=/", "--mount", "type=bind,source=" + sifSq + ",destination=/squash,image-src=/", env.Busybox, "test", "-f", "/squash/squash_marker", "-a", "-f", "/ext3/ext3_marker"}, 0, ""},
		// Attacks: links inside the image resolve inside it.
		{"LinkAbsolute", []string{"--bind", sq + ":/bind:image-src=/abs", env.Busybox, "cat", "/bind/hostname"}, 0, ""},
		{"LinkClimbing", []string{"--bind", sq + ":/bind:image-src=/climb", env.Busybox, "cat", "/bind/hostname"}, 0, ""},
		{"DotDot", []string{"--bind", sq + ":/bind:image-src=/../../../etc", env.Busybox, "cat", "/bind/hostname"}, 0, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := apptainer(t, append([]string{"exec"}, tc.args...)...)
			if r.Code != tc.code {
				t.Fatalf("exit %d, want %d:\n%s", r.Code, tc.code, r)
			}
			if tc.stderr != "" && !strings.Contains(r.Stderr, tc.stderr) {
				t.Errorf("stderr lacks %q:\n%s", tc.stderr, r)
			}
			if strings.HasPrefix(tc.name, "Link") || tc.name == "DotDot" {
				if got := strings.TrimSpace(r.Stdout); got != "image-etc" {
					t.Errorf("the bind reached %q, want the image's own /etc/hostname (image-etc)", got)
				}
			}
		})
	}
	// Control for the link attacks: the host's /etc/hostname differs.
	if b, err := os.ReadFile("/etc/hostname"); err == nil && strings.TrimSpace(string(b)) == "image-etc" {
		t.Fatal("control: the host's /etc/hostname reads image-etc")
	}
	// The image's own setuid and device files have no effect.
	r := apptainer(t, "exec", "--bind", sq+":/bind:image-src=/", env.Busybox, "grep", " /bind ", "/proc/self/mountinfo")
	mustSucceed(t, r, "mountinfo of the image bind")
	for _, opt := range []string{"nosuid", "nodev", "ro"} {
		if !regexp.MustCompile(`[ ,]` + opt + `[ ,]`).MatchString(r.Stdout) {
			t.Errorf("the image bind lacks %s: %s", opt, r.Stdout)
		}
	}
	for _, img := range []string{sq, ext, sifSq, sifExt, sif} {
		if out, _ := exec.Command("losetup", "-j", img).Output(); strings.TrimSpace(string(out)) != "" {
			t.Errorf("loop devices left on %s: %s", img, out)
		}
	}
}

// TestImageBindLockedAcrossContainers: an instance that writes to an ext3
// image through an image bind keeps every other container from mounting
// it, read-write or read-only, until it stops.
func TestImageBindLockedAcrossContainers(t *testing.T) {
	f := makeImageBindFixture(t)
	const name = "imgbindlock"
	stopOnCleanup(t, name)
	mustSucceed(t, apptainer(t, "instance", "start", "--bind", f.ext3+":/data:image-src=/", env.Busybox, name), "instance start with an ext3 image bind")
	mustSucceed(t, apptainer(t, "exec", "instance://"+name, "touch", "/data/from-instance"), "write through the instance's bind")
	mustFail(t, apptainer(t, "exec", "--bind", f.ext3+":/d:image-src=/", env.Busybox, "true"), "can't open "+f.ext3+" for writing, currently in use by another process")
	mustFail(t, apptainer(t, "exec", "--bind", f.ext3+":/d:image-src=/,ro", env.Busybox, "true"), "can't open "+f.ext3+" for reading, currently in use for writing by another process")
	mustSucceed(t, apptainer(t, "instance", "stop", name), "instance stop")
	if !waitGone(name, 30*time.Second) {
		t.Fatal("the instance still runs")
	}
	// Control: with the instance gone, the lock is gone too (the loop
	// device held it), and what it wrote is there.
	waitFor(t, 30*time.Second, "the ext3 image to be free", func() (bool, string) {
		r := apptainer(t, "exec", "--bind", f.ext3+":/d:image-src=/", env.Busybox, "test", "-f", "/d/from-instance")
		return r.Code == 0, r.String()
	})
}

// sifPrimaryID is the descriptor id of a SIF's root file system, from
// `apptainer sif list`.
func sifPrimaryID(t *testing.T, sif string) string {
	t.Helper()
	r := apptainer(t, "sif", "list", sif)
	mustSucceed(t, r, "sif list")
	for _, l := range strings.Split(r.Stdout, "\n") {
		if strings.Contains(l, "/*System/") { // siftool marks the primary partition with a star
			return strings.TrimSpace(strings.SplitN(l, "|", 2)[0])
		}
	}
	t.Fatalf("no primary partition in sif list:\n%s", r.Stdout)
	return ""
}

// TestInstallLayout: `make install` into a fresh prefix installs upstream's
// files in SYSCONFDIR/apptainer, each used or saying it is not; the
// installed apptainer.conf finds Debian's CNI plugins, and plugins in
// LIBEXECDIR/apptainer/cni still work; a second install keeps the
// administrator's edits and puts the new default next to them.
func TestInstallLayout(t *testing.T) {
	repo, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	prefix, build := filepath.Join(tmp, "prefix"), filepath.Join(tmp, "build")
	runIn := func(dir string, name string, args ...string) string {
		t.Helper()
		cmd := exec.Command(name, args...)
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	runIn(repo, "./mconfig", "-b", build, "--prefix="+prefix)
	runIn(repo, "make", "-s", "-C", build, "install")

	conf := filepath.Join(prefix, "etc", "apptainer")
	for _, f := range []string{"apptainer.conf", "capability.json", "ecl.toml", "nvliblist.conf", "rocmliblist.conf", "remote.yaml", "global-pgp-public", "network/00_bridge.conflist"} {
		fi, err := os.Lstat(filepath.Join(conf, f))
		if err != nil || !fi.Mode().IsRegular() || fi.Mode().Perm() != 0o644 {
			t.Errorf("%s: %v %v, want a regular file with mode 0644", f, fi, err)
		}
	}
	for _, f := range []string{"ecl.toml", "nvliblist.conf", "rocmliblist.conf", "remote.yaml"} {
		b, _ := os.ReadFile(filepath.Join(conf, f))
		if head, _, _ := strings.Cut(string(b), "\n\n"); !strings.Contains(head, "NOT USED BY THIS BUILD") {
			t.Errorf("%s does not say at its top that this build does not use it:\n%s", f, head)
		}
	}
	for _, f := range []string{"capability.json", "global-pgp-public"} {
		if b, err := os.ReadFile(filepath.Join(conf, f)); err != nil || len(b) != 0 {
			t.Errorf("%s: %q %v, want empty as upstream's", f, b, err)
		}
	}
	if l, err := os.Readlink(filepath.Join(prefix, "bin", "singularity")); err != nil || l != "apptainer" {
		t.Errorf("bin/singularity: %q %v, want a link to apptainer", l, err)
	}
	b, _ := os.ReadFile(filepath.Join(conf, "apptainer.conf"))
	if !regexp.MustCompile(`(?m)^cni plugin path = /usr/lib/cni$`).Match(b) {
		t.Errorf("the installed apptainer.conf does not point at /usr/lib/cni")
	}

	// The installed tree runs, with a network of the loopback plugin
	// alone (it touches nothing outside the container).
	bin := filepath.Join(prefix, "bin", "apptainer")
	lo := `{"cniVersion":"1.0.0","name":"looponly","plugins":[{"type":"loopback"}]}`
	if err := os.WriteFile(filepath.Join(conf, "network", "95_looponly.conflist"), []byte(lo), 0o644); err != nil {
		t.Fatal(err)
	}
	netRun := func() result {
		return apptainerCmd(t, nil, bin, "exec", "--network", "looponly", env.Busybox, "cat", "/sys/class/net/lo/operstate")
	}
	r := netRun()
	mustSucceed(t, r, "exec --network looponly with the installed apptainer.conf (plugins from /usr/lib/cni)")
	if got := strings.TrimSpace(r.Stdout); got != "unknown" && got != "up" {
		t.Errorf("lo in the container: %q", got)
	}
	// A site's plugins in LIBEXECDIR/apptainer/cni: found after the
	// configured directory (here an empty one).
	empty := filepath.Join(tmp, "no-plugins")
	if err := os.Mkdir(empty, 0o755); err != nil {
		t.Fatal(err)
	}
	edited := regexp.MustCompile(`(?m)^cni plugin path = .*$`).ReplaceAll(b, []byte("cni plugin path = "+empty))
	if err := os.WriteFile(filepath.Join(conf, "apptainer.conf"), edited, 0o644); err != nil {
		t.Fatal(err)
	}
	if r := netRun(); r.Code == 0 || !strings.Contains(r.Stderr, "loopback") {
		t.Fatalf("control: no loopback plugin anywhere, yet:\n%s", r)
	}
	site := filepath.Join(prefix, "libexec", "apptainer", "cni")
	if err := os.MkdirAll(site, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := copyFile("/usr/lib/cni/loopback", filepath.Join(site, "loopback")); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(site, "loopback"), 0o755); err != nil {
		t.Fatal(err)
	}
	mustSucceed(t, netRun(), "exec --network looponly with the plugin in LIBEXECDIR/apptainer/cni")

	// Installing again keeps the edited file and leaves the same ones be.
	out := runIn(repo, "make", "-s", "-C", build, "install")
	if got, _ := os.ReadFile(filepath.Join(conf, "apptainer.conf")); string(got) != string(edited) {
		t.Errorf("make install overwrote the administrator's apptainer.conf")
	}
	if got, _ := os.ReadFile(filepath.Join(conf, "apptainer.conf.new")); string(got) != string(b) {
		t.Errorf("apptainer.conf.new is not this build's default")
	}
	if !strings.Contains(out, "KEEP") || !strings.Contains(out, "apptainer.conf.new") {
		t.Errorf("make install does not say it kept apptainer.conf:\n%s", out)
	}
	if news, _ := filepath.Glob(filepath.Join(conf, "*.new")); len(news) != 1 {
		t.Errorf("unchanged files got a .new too: %v", news)
	}
}
