//go:build e2e

package e2e

import (
	"os/exec"
	"regexp"
	"strings"
	"testing"
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
}

var compatCases = []compatCase{
	// Usage errors: the command's name, the usage, exit 1.
	{args: "exec", code: 1, stderr: `(?s)^Error for command "exec": requires at least 2 arg\(s\), only received 0\n\nUsage:\n  apptainer exec`},
	{args: "run", code: 1, stderr: `(?s)^Error for command "run": requires at least 1 arg\(s\), only received 0\n\nUsage:`},
	{args: "instance start {bb}", code: 1, stderr: `(?s)^Error for command "start": requires at least 2 arg\(s\), only received 1\n\nUsage:`},
	{args: "exec --no-such-flag {bb} true", code: 1, stderr: `(?s)^Error for command "exec": unknown flag: --no-such-flag\n\nUsage:`},
	// Failures of the container: one FATAL line, exit 255.
	{args: "exec {bb} /nonexistent", code: 255, stderr: `^FATAL: +/nonexistent: no such file or directory\n$`, once: "/nonexistent: no such file or directory"},
	{args: "exec {bb} nonexistent", code: 255, stderr: `^FATAL: +nonexistent: executable file not found in \$PATH\n$`, once: "executable file not found"},
	{args: "exec /nonexistent/image true", code: 255, stderr: `^FATAL: +could not open image /nonexistent/image: no such file or directory\n$`},
	{args: "-c /nonexistent/apptainer.conf exec {bb} true", code: 255, stderr: `^FATAL: +failed to open configuration file "/nonexistent/apptainer.conf"`},
	// The container's own exit code passes through.
	{args: "exec {bb} sh -c 'exit 3'", code: 3, stderr: `^$`},
}

func TestCompat(t *testing.T) {
	for _, c := range compatCases {
		t.Run(c.args, func(t *testing.T) {
			args := splitArgs(strings.ReplaceAll(c.args, "{bb}", env.Busybox))
			// From /, which every image has: the caller's directory is
			// the container's, and a missing one is warned about.
			cmd := exec.Command(env.Bin, args...)
			cmd.Dir = "/"
			cmd.Env = []string{"HOME=" + env.Home, "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C"}
			r := runResult(t, cmd)
			if r.Code != c.code {
				t.Errorf("exit %d, want %d:\n%s", r.Code, c.code, r)
			}
			if !regexp.MustCompile(c.stderr).MatchString(r.Stderr) {
				t.Errorf("stderr does not match %q:\n%s", c.stderr, r.Stderr)
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
