//go:build e2e

package e2e

// Issue 14, finding 2: the monitor asks the instance's systemd how the
// boot went by running the image's systemctl. A trojan systemctl in the
// image must get nothing from that: it must not be found in /usr/local,
// and the one the runtime does run must have no capabilities, no_new_privs,
// the instance's seccomp filter and the instance's cgroup.

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// queryAttack is what the trojan does with what it is given: mount a
// procfs of its own (at $1, /run/tp by default) and, through it, write a
// sysctl of the host's network namespace (ib0's IPv6 MTU: the fake host
// sets 2044). It prints one line saying how far it got, and exits 0 only
// when the write went through.
const queryAttack = `tp="${1:-/run/tp}"
mkdir -p "$tp" || { echo "attack: cannot create $tp"; exit 1; }
if ! out=$(mount -t proc proc "$tp" 2>&1); then echo "attack: mount failed: $(printf "%s" "$out" | tr "\n" " ")"; exit 1; fi
if out=$( (echo 1300 > "$tp/sys/net/ipv6/conf/ib0/mtu") 2>&1); then
	echo "attack: wrote net.ipv6.conf.ib0.mtu"; umount "$tp"; exit 0
fi
echo "attack: write failed: $out"; umount "$tp"; exit 2`

// trojanLayer is an image layer with a trojan systemctl in both places
// an image can put one: /usr/local/sbin (first in the image's PATH), which
// notes that it ran in /run/trojan-local, and /usr/bin, which records
// what it was given (its capabilities, no_new_privs, seccomp mode and
// cgroups) in /run/trojan.PID, runs the attack and hands over to the real
// systemctl (copied from img) so the runtime still gets its answer.
func trojanLayer(t *testing.T, img string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	real, err := os.ReadFile(filepath.Join(img, "usr/bin/systemctl"))
	if err != nil {
		t.Fatalf("the image's systemctl: %v", err)
	}
	files := []struct {
		path    string
		content []byte
	}{
		{"usr/local/lib/trojan/attack", []byte(queryAttack + "\n")},
		{"usr/local/sbin/systemctl", []byte(`#!/bin/sh
echo "local ran: $*" >> /run/trojan-local
sh /usr/local/lib/trojan/attack >> /run/trojan-local 2>&1
exec /usr/bin/systemctl.real "$@"
`)},
		{"usr/bin/systemctl", []byte(`#!/bin/sh
{
	echo "args: $*"
	grep -E '^(CapEff|NoNewPrivs|Seccomp):' /proc/$$/status
	sed 's/^/cgroup: /' /proc/$$/cgroup
	sh /usr/local/lib/trojan/attack 2>&1
} > /run/trojan.$$ 2>&1
exec /usr/bin/systemctl.real "$@"
`)},
		{"usr/bin/systemctl.real", real},
	}
	for _, f := range files {
		p := filepath.Join(dir, f.path)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, f.content, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// trojanRecord is what one run of the /usr/bin trojan wrote.
type trojanRecord struct {
	file    string
	fields  map[string]string // CapEff, NoNewPrivs, Seccomp, args, attack
	cgroups []string          // its /proc/self/cgroup lines
}

// parseTrojanRecords reads the output of the listing in
// TestAttackTrojanQuery: "== FILE" starts a record.
func parseTrojanRecords(out string) []trojanRecord {
	var recs []trojanRecord
	for _, l := range strings.Split(out, "\n") {
		if f, ok := strings.CutPrefix(l, "== "); ok {
			recs = append(recs, trojanRecord{file: f, fields: map[string]string{}})
			continue
		}
		if len(recs) == 0 || l == "" {
			continue
		}
		r := &recs[len(recs)-1]
		k, v, _ := strings.Cut(l, ":")
		switch k {
		case "cgroup":
			r.cgroups = append(r.cgroups, strings.TrimSpace(v))
		case "attack":
			r.fields[k] = strings.TrimSpace(l)
		default:
			r.fields[k] = strings.TrimSpace(v)
		}
	}
	return recs
}

// unifiedLine returns the cgroup2 line ("0::PATH") of /proc/PID/cgroup
// lines, or "" when there is none.
func unifiedLine(cgroupLines []string) string {
	for _, l := range cgroupLines {
		if strings.HasPrefix(l, "0::") {
			return l
		}
	}
	return ""
}

// ib0MTU6 reads the fake host's net.ipv6.conf.ib0.mtu.
func ib0MTU6(t *testing.T, h *fakeHost) string {
	t.Helper()
	return strings.TrimSpace(h.output(t, "cat", "/proc/sys/net/ipv6/conf/ib0/mtu"))
}

// TestAttackTrojanQuery: the runtime's two systemctl queries at instance
// start run a trojan /usr/bin/systemctl of the image (the one in
// /usr/local/sbin is never found); it runs with no capabilities,
// no_new_privs and seccomp filtering, in the cgroup of the instance's
// PID 1, and its attack on a host sysctl fails.
func TestAttackTrojanQuery(t *testing.T) {
	base := bootImage(t)
	img := linkedImage(t, base, trojanLayer(t, base))
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			h := newFakeHost(t)
			if got := ib0MTU6(t, h); got != "2044" {
				t.Fatalf("the fake host's net.ipv6.conf.ib0.mtu is %s before the test, want 2044", got)
			}
			// Positive control: the attack, run as root on the host, does
			// change the sysctl.
			pc := h.nsenterArgs("sh", "-c", queryAttack, "sh", t.TempDir())
			if r := apptainerCmd(t, nil, pc[0], pc[1:]...); r.Code != 0 {
				t.Fatalf("positive control: the attack failed as host root, so it proves nothing:\n%s", r)
			}
			if got := ib0MTU6(t, h); got != "1300" {
				t.Fatalf("positive control: after the attack as host root net.ipv6.conf.ib0.mtu is %s, want 1300", got)
			}
			h.mustRun(t, "sh", "-c", "echo 2044 > /proc/sys/net/ipv6/conf/ib0/mtu")
			if got := ib0MTU6(t, h); got != "2044" {
				t.Fatalf("cannot restore net.ipv6.conf.ib0.mtu after the positive control: %s", got)
			}

			name := "trojan-" + m.name
			startHostnet(t, h, m.name, img, name)
			// No systemctl through exec here: the trojan would record those
			// runs too (and they have the instance's capabilities).
			r := h.inInstance(t, name, `for f in /run/trojan.*; do [ -e "$f" ] || continue; echo "== $f"; cat "$f"; done
if [ -e /run/trojan-local ]; then echo "-- local"; cat /run/trojan-local; fi`)
			mustSucceed(t, r, "reading the trojan's records")
			if before, local, ok := strings.Cut(r.Stdout, "-- local\n"); ok {
				t.Errorf("the trojan in /usr/local/sbin ran:\n%s", local)
				r.Stdout = before
			}
			pid1 := h.inInstance(t, name, "cat /proc/1/cgroup")
			mustSucceed(t, pid1, "cat /proc/1/cgroup")
			pid1Lines := lines(pid1.Stdout)
			t.Logf("PID 1: cgroups %q", pid1Lines)
			want := unifiedLine(pid1Lines)
			if want == "" {
				t.Fatalf("PID 1 of the instance is in no cgroup2 cgroup:\n%s", pid1.Stdout)
			}
			recs := parseTrojanRecords(r.Stdout)
			if len(recs) < 2 {
				t.Errorf("%d records of the trojan /usr/bin/systemctl, want at least 2 (the runtime's two queries):\n%s", len(recs), r)
			}
			for _, rec := range recs {
				t.Logf("%s: %v, cgroups %q", rec.file, rec.fields, rec.cgroups)
				for k, v := range map[string]string{"CapEff": "0000000000000000", "NoNewPrivs": "1", "Seccomp": "2"} {
					if rec.fields[k] != v {
						t.Errorf("%s (systemctl %s): %s %q, want %q", rec.file, rec.fields["args"], k, rec.fields[k], v)
					}
				}
				if got := unifiedLine(rec.cgroups); got != want {
					t.Errorf("%s (systemctl %s): cgroup %q, want PID 1's %q", rec.file, rec.fields["args"], got, want)
				}
				if !strings.Contains(rec.fields["attack"], "failed") {
					t.Errorf("%s (systemctl %s): the attack did not fail: %q", rec.file, rec.fields["args"], rec.fields["attack"])
				}
			}
			if got := ib0MTU6(t, h); got != "2044" {
				t.Errorf("the fake host's net.ipv6.conf.ib0.mtu is %s after the instance started, want 2044", got)
			}
		})
	}
}
