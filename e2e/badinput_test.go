//go:build e2e

package e2e

// The bad-input corpus: invalid invocations, each refused with its own
// message and leaving nothing behind.

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// badCase is one invalid invocation. Args are split on blanks after the
// placeholders are filled in: {bb} the busybox sandbox, {img} the boot
// image, {file} a regular file, {dir} an empty directory, {sif} a
// truncated SIF file, {long65} and {long70} instance names of 65 and 70
// characters.
type badCase struct {
	args string
	want string // in stderr
	as   string // "nobody" runs it as an unprivileged user
	conf string // a line appended to apptainer.conf for this case
	bug  string // set while the case shows a known, unfixed bug
}

var badCases = []badCase{
	// Arguments and instance names.
	{args: "instance start {bb}", want: "requires at least 2 arg(s), only received 1"},
	{args: "instance start {bb} a:b", want: "a:b is not a valid instance name"},
	{args: "instance start {bb} x/y", want: "x/y is not a valid instance name"},
	{args: "instance start {bb} ..", want: ".. is not a valid instance name"},
	{args: "instance start {bb} " + strings.Repeat("n", 300), want: "instance name too long (300 characters): at most 231 characters"},
	{args: "instance start --boot {img} {long65}", want: `hostname "` + strings.Repeat("a", 65) + `" is longer than 64 characters`},
	{args: "instance start --boot {img} {long70}", want: `hostname "` + strings.Repeat("a", 70) + `" is longer than 64 characters`},
	{args: "instance bogus", want: `unknown command "bogus" for "apptainer instance"`},
	// Images.
	{args: "instance start /nonexistent/image bad1", want: "could not open image /nonexistent/image"},
	{args: "instance start {file} bad1", want: "not a SIF file (and not a sandbox directory)"},
	{args: "instance start {sif} bad1", want: "corrupt SIF file: header truncated"},
	{args: "instance start --boot {bb} bad1", want: "--boot needs /sbin/init in the image"},
	{args: "instance start --boot {img}/etc/hostname bad1", want: "not a SIF file (and not a sandbox directory)"},
	// Flag conflicts and values.
	{args: "instance start --boot-hostnet {img} bad1", want: "--boot-hostnet requires --boot"},
	{args: "instance start --boot-hostnet-guard warn {img} bad1", want: "--boot-hostnet-guard requires --boot-hostnet"},
	{args: "instance start --boot-hostnet-unmask a.service {img} bad1", want: "--boot-hostnet-unmask requires --boot-hostnet"},
	{args: "instance start --boot --boot-hostnet -n {img} bad1", want: "cannot be combined with --net"},
	{args: "instance start --boot --boot-hostnet --network none {img} bad1", want: "cannot be combined with --network"},
	{args: "instance start --boot --boot-hostnet --network-args IP=10.0.0.9 {img} bad1", want: "cannot be combined with --network-args"},
	{args: "instance start --boot --boot-hostnet --netns-path {file} {img} bad1", want: "cannot be combined with --netns-path"},
	{args: "instance start --boot --boot-hostnet --boot-hostnet-unmask nosuch {img} bad1", want: `invalid unit name "nosuch"`},
	{args: "instance start --boot --boot-hostnet --boot-hostnet-guard loud {img} bad1", want: "invalid host-network guard mode"},
	{args: "instance start --boot --boot-timeout -3 {img} bad1", want: "--boot-timeout must be a positive number of seconds"},
	{args: "instance start --boot --boot-timeout soon {img} bad1", want: `invalid argument "soon" for "--boot-timeout"`},
	{args: "instance start --boot --fakeroot {img} bad1", want: "--userns and --fakeroot cannot be combined with --boot for root"},
	{args: "exec --boot {bb} true", want: "unknown flag: --boot"},
	{args: "instance start --dns 1.2.3 {bb} bad1", want: "dns ip 1.2.3 is not a valid IP address"},
	// Bind specifications.
	{args: "instance start -B /tmp:/x:bogus {bb} bad1", want: `invalid bind spec "/tmp:/x:bogus": bind option "bogus" is not supported`},
	{args: "instance start -B /tmp:relative {bb} bad1", want: `destination "relative" is not an absolute path`},
	{args: "instance start -B :/x {bb} bad1", want: `invalid bind spec ":/x": empty source`},
	{args: "instance start -B /a:/b:/c:/d {bb} bad1", want: "/a:/b:/c:/d"},
	{args: "instance start -B /nonexistent:/x {bb} bad1", want: "failed to bind /x: stat /nonexistent"},
	{args: "instance start -H relative-home {bb} bad1", want: "failed to bind relative-home"},
	// Network arguments and networks.
	{args: "instance start --network-args portmap {bb} bad1", want: "invalid argument: portmap"},
	{args: "instance start -n --network-args portmap=abc {bb} bad1", want: "badly formatted portmap argument 'abc'"},
	{args: "instance start -n --network-args =x {bb} bad1", want: "invalid argument: =x"},
	{args: "instance start -n --network-args IP=999.1.1.1 {bb} bad1", want: "invalid IP address 999.1.1.1"},
	{args: "instance start --boot --network nosuchnet {img} bad1", want: `no net configuration with name "nosuchnet"`},
	// Network namespace paths.
	{args: "instance start --netns-path /dev/null {bb} bad1", want: "/dev/null is not a network namespace"},
	{args: "instance start --boot --netns-path {file} {img} bad1", want: "is not a network namespace"},
	{args: "instance start --boot --netns-path {dir} {img} bad1", want: "is not a network namespace"},
	{args: "instance start --netns-path /proc/self/ns/mnt {bb} bad1", want: "/proc/self/ns/mnt is not a network namespace"},
	{args: "instance start --netns-path relative/missing {bb} bad1", want: "while checking netns path: stat relative/missing"},
	// Signals and stop.
	{args: "instance stop -s BOGUS bad1", want: `Could not convert stop signal: unknown signal "BOGUS"`},
	{args: "instance stop -s 0 bad1", want: `signal number "0" is out of range`},
	{args: "instance stop -s 99 bad1", want: `signal number "99" is out of range`},
	{args: "instance stop -s RTMAX-40 bad1", want: "offset -40 is larger than 30"},
	{args: "instance stop -t soon bad1", want: `invalid argument "soon" for "-t, --timeout"`},
	{args: "instance stop nosuch", want: "no instance found"},
	{args: "instance stop", want: "invalid command"},
	{args: "instance list --json --logs", want: "more than one flags have been set"},
	{args: "instance list a b", want: "accepts at most 1 arg(s), received 2"},
	{args: "exec instance://nosuch true", want: "no instance found with name nosuch"},
	{args: "hostnet diff nosuch", want: "no instance found with name nosuch"},
	{args: "hostnet audit /nonexistent", want: `failed to open image "/nonexistent"`},
	// Root-only features used by an unprivileged user.
	{as: "nobody", args: "instance start --boot {img} bad1", want: "Could not configure --boot: --boot requires root privileges (an ordinary user boots with --fakeroot)"},
	{as: "nobody", args: "instance start --boot --boot-hostnet {img} bad1", want: "user nobody is not allowed to boot instances on the host network"},
	{as: "nobody", args: "instance start --keep-privs {bb} bad1", want: "--keep-privs requires root privileges"},
	{as: "nobody", args: "instance start -n {bb} bad1", want: "network requires root or a suid installation"},
	{as: "nobody", args: "instance start --netns-path /run/netns/x {bb} bad1", want: `"/run/netns/x" is not an allowed netns path in singularity.conf`},
	{as: "nobody", args: "hostnet harden {img}", want: "permission denied"},
	// Malformed apptainer.conf lines.
	{conf: "allow boot hostnet = maybe", args: "instance start {bb} bad1", want: `bad value "maybe" for "allow boot hostnet": want yes or no`},
	{conf: "garbage without an equals sign", args: "instance start {bb} bad1", want: `expected "directive = value", got "garbage without an equals sign"`},
	{conf: "boot timeout = abc", args: "instance start --boot {img} bad1", want: `bad value "abc" for "boot timeout"`},
	{conf: "boot timeout = 0", args: "instance start --boot {img} bad1", want: `bad value "0" for "boot timeout"`},
	{conf: "cni configuration path = relative/dir", args: "instance start --boot {img} bad1", want: `bad value "relative/dir" for "cni configuration path": want an absolute path`},
	{conf: "boot hostnet guard = loud", args: "instance start --boot --boot-hostnet {img} bad1", want: `bad value "loud" for "boot hostnet guard"`},
	{conf: "boot hostnet mask units = nosuch", args: "instance start --boot --boot-hostnet {img} bad1", want: `bad value "nosuch" for "boot hostnet mask units"`},
	{conf: "root default capabilities = bogus", args: "instance start {bb} bad1", want: `bad value "bogus" for "root default capabilities"`},
	{conf: "allow boot hostnet = no", args: "instance start --boot --boot-hostnet {img} bad1", want: "allow boot hostnet = no"},
}

func TestBadInput(t *testing.T) {
	if len(badCases) < 40 {
		t.Fatalf("the corpus has %d cases, want at least 40", len(badCases))
	}
	img := bootImage(t)
	h := newFakeHost(t)
	tmp := t.TempDir()
	file := filepath.Join(tmp, "regular")
	sif := filepath.Join(tmp, "truncated.sif")
	dir := filepath.Join(tmp, "dir")
	if err := os.WriteFile(file, []byte("not an image\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// The start of a SIF global header (launch script, magic), cut short.
	if err := os.WriteFile(sif, []byte("#!/usr/bin/env run-singularity\n\x00SIF_MAGIC\x00\x00\x0001"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	fill := strings.NewReplacer("{bb}", env.Busybox, "{img}", img, "{file}", file, "{dir}", dir, "{sif}", sif,
		"{long65}", strings.Repeat("a", 65), "{long70}", strings.Repeat("a", 70))
	// The first use of the bridge network creates the bridge and CNI's
	// firewall chains in the fake host, which CNI keeps by design (as
	// upstream does): make them part of the baseline.
	mustSucceed(t, h.apptainer(t, "exec", "--net", env.Busybox, "true"), "exec --net (warm-up)")
	waitNoTentative(t, h, "the warm-up made the bridge sbr0")
	// The leases of the shared bridge network are machine-wide and other
	// users' come and go; CNI leaks show in the fake host (veth, rules).
	sc := scope{Names: []string{"bad1", strings.Repeat("a", 64), strings.Repeat("n", 64)}}
	before := takeHostState(t, h, sc)
	for _, c := range badCases {
		t.Run(c.args, func(t *testing.T) {
			if c.bug != "" {
				t.Skip("known bug: " + c.bug)
			}
			args := strings.Fields(fill.Replace(c.args))
			if c.conf != "" {
				withConf(t, c.conf)
			}
			var r result
			if c.as == "nobody" {
				r = h.apptainerAs(t, []string{"setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"}, args...)
			} else {
				r = h.apptainer(t, args...)
			}
			mustFail(t, r, c.want)
			if name := args[len(args)-1]; args[0] == "instance" && args[1] == "start" && validName(name) {
				assertNoTraces(t, h, name)
				if t.Failed() {
					h.apptainer(t, "instance", "stop", "-F", name)
				}
			}
			assertSameHostState(t, h, sc, before)
		})
	}
}

// apptainerAs runs the binary under test in the fake host through a
// wrapper command such as setpriv.
func (h *fakeHost) apptainerAs(t *testing.T, wrapper []string, args ...string) result {
	t.Helper()
	a := h.nsenterArgs(append(append(append([]string{}, wrapper...), env.Bin), args...)...)
	return apptainerCmd(t, nil, a[0], a[1:]...)
}

// validName tells names the runtime could have used as a path component,
// whose traces can be looked for.
func validName(name string) bool {
	return name != "." && name != ".." && !strings.ContainsAny(name, "/:")
}
