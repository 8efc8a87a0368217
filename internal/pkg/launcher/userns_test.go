package launcher

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/apptainer/apptainer/internal/pkg/apptainerconf"
	"github.com/apptainer/apptainer/internal/pkg/runtime/config"
	"github.com/apptainer/apptainer/internal/pkg/subid"
)

// withSubIDs gives h subordinate ranges, or the lookup errors.
func withSubIDs(h Host, uidErr, gidErr error) Host {
	h.SubUID = SubIDs{Range: subid.Range{Start: 100000, Count: 65536}, Err: uidErr}
	h.SubGID = SubIDs{Range: subid.Range{Start: 200000, Count: 65536}, Err: gidErr}
	if uidErr != nil {
		h.SubUID.Range = subid.Range{}
	}
	if gidErr != nil {
		h.SubGID.Range = subid.Range{}
	}
	return h
}

// m is an id map entry.
func m(container, host, size uint32) config.IDMap {
	return config.IDMap{ContainerID: container, HostID: host, Size: size}
}

func TestFakerootMaps(t *testing.T) {
	noEntry := fmt.Errorf("%w in /etc/subuid for alice", subid.ErrNoEntry)
	tooLow := fmt.Errorf("mapping entries for user alice found in /etc/subuid but all with a %w 65536", subid.ErrRangeTooLow)
	tests := []struct {
		name           string
		opts           Options
		host           Host
		uidMap, gidMap []config.IDMap
		helpers        bool
		uid            uint32
		info           string
		err            string
	}{
		{"user with ranges: root is the user, 1.. the ranges, through the helpers",
			userExec(func(o *Options) { o.Fakeroot = true }), withSubIDs(userHost(), nil, nil),
			[]config.IDMap{m(0, 1000, 1), m(1, 100000, 65536)}, []config.IDMap{m(0, 1000, 1), m(1, 200000, 65536)}, true, 0, "", ""},
		{"user without an entry: root-mapped namespace, with upstream's notice",
			userExec(func(o *Options) { o.Fakeroot = true }), withSubIDs(userHost(), noEntry, noEntry),
			[]config.IDMap{m(0, 1000, 1)}, []config.IDMap{m(0, 1000, 1)}, false, 0, "User not listed in /etc/subuid, trying root-mapped namespace", ""},
		{"user whose range is too small: refused as upstream",
			userExec(func(o *Options) { o.Fakeroot = true }), withSubIDs(userHost(), tooLow, nil),
			nil, nil, false, 0, "", "could not use fakeroot: mapping entries for user alice found in /etc/subuid but all with a range count lower than 65536"},
		{"user with a uid range but no gid range: refused",
			userExec(func(o *Options) { o.Fakeroot = true }), withSubIDs(userHost(), nil, errors.New("no mapping entry found in /etc/subgid for alice")),
			nil, nil, false, 0, "", "could not use fakeroot: no mapping entry found in /etc/subgid for alice"},
		{"root with ranges: maps written directly",
			execOpts(func(o *Options) { o.Fakeroot = true }), withSubIDs(rootHost(), nil, nil),
			[]config.IDMap{m(0, 0, 1), m(1, 100000, 65536)}, []config.IDMap{m(0, 0, 1), m(1, 200000, 65536)}, false, 0, "", ""},
		{"root without an entry: refused as upstream (no fallback for root)",
			execOpts(func(o *Options) { o.Fakeroot = true }), withSubIDs(rootHost(), noEntry, noEntry),
			nil, nil, false, 0, "", "could not use fakeroot: no mapping entry found"},
		{"user --userns: the user's own ids, as without it",
			userExec(func(o *Options) { o.UserNS = true }), userHost(), nil, nil, false, 1000, "", ""},
		{"root --userns: root mapped to itself alone",
			execOpts(func(o *Options) { o.UserNS = true }), rootHost(), []config.IDMap{m(0, 0, 1)}, []config.IDMap{m(0, 0, 1)}, false, 0, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, msgs, err := Build(tt.opts, apptainerconf.Default(), tt.host)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !c.Unprivileged {
				t.Error("not in a user namespace of its own")
			}
			if !reflect.DeepEqual(c.UIDMap, tt.uidMap) || !reflect.DeepEqual(c.GIDMap, tt.gidMap) || c.MapHelpers != tt.helpers {
				t.Errorf("maps %v %v helpers %v, want %v %v %v", c.UIDMap, c.GIDMap, c.MapHelpers, tt.uidMap, tt.gidMap, tt.helpers)
			}
			if u := c.Spec.Process.User; u.UID != tt.uid || u.GID != tt.uid {
				t.Errorf("process ids %d:%d, want %d:%d", u.UID, u.GID, tt.uid, tt.uid)
			}
			var got []string
			for _, m := range msgs {
				got = append(got, m.Text)
			}
			if tt.info != "" && (len(msgs) == 0 || msgs[0].Level != Info || msgs[0].Text != tt.info) {
				t.Errorf("messages %q, want the notice %q", got, tt.info)
			}
			if tt.info == "" && len(msgs) > 0 {
				t.Errorf("unexpected messages %q", got)
			}
		})
	}
}

// TestFakerootContainer: root's home, the caller's home bound there, the
// working directory followed into it, and every capability of the
// namespace (none with --no-privs); the user's own container keeps none.
func TestFakerootContainer(t *testing.T) {
	h := withSubIDs(userHost(), nil, nil)
	h.Cwd = "/home/alice/src"
	c, _, err := Build(userExec(func(o *Options) { o.Fakeroot = true }), apptainerconf.Default(), h)
	if err != nil {
		t.Fatal(err)
	}
	if m := mountAt(c.Spec.Mounts, "/root"); m == nil || m.Source != "/home/alice" {
		t.Errorf("/root: got %+v, want the user's home bound", m)
	}
	if m := mountAt(c.Spec.Mounts, "/home/alice"); m != nil {
		t.Errorf("the home is also bound at /home/alice: %+v", m)
	}
	if c.Spec.Process.Cwd != "/root/src" {
		t.Errorf("cwd %q, want /root/src", c.Spec.Process.Cwd)
	}
	if !hasEnv(c.Spec.Process.Env, "HOME=/root") {
		t.Errorf("HOME is not /root: %q", c.Spec.Process.Env)
	}
	if n := len(c.Spec.Process.Capabilities.Bounding); n < 38 || c.NoNewPrivileges {
		t.Errorf("fakeroot got %d capabilities, no_new_privs %v; want all, without", n, c.NoNewPrivileges)
	}
	c, _, err = Build(userExec(func(o *Options) { o.Fakeroot = true; o.NoPrivs = true }), apptainerconf.Default(), h)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(c.Spec.Process.Capabilities.Bounding); n != 0 || !c.NoNewPrivileges {
		t.Errorf("--no-privs: %d capabilities, no_new_privs %v", n, c.NoNewPrivileges)
	}
	// Control: the same user without --fakeroot.
	c, _, err = Build(userExec(nil), apptainerconf.Default(), h)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(c.Spec.Process.Capabilities.Bounding); n != 0 || c.Spec.Process.Cwd != "/home/alice/src" || c.UIDMap != nil {
		t.Errorf("plain user: %d capabilities, cwd %q, map %v", n, c.Spec.Process.Cwd, c.UIDMap)
	}
}

func TestUnderHome(t *testing.T) {
	for _, tc := range []struct{ cwd, src, want string }{
		{"/home/alice", "/home/alice", "/root"},
		{"/home/alice/a/b", "/home/alice", "/root/a/b"},
		{"/home/alice2", "/home/alice", "/home/alice2"},
		{"/srv", "/home/alice", "/srv"},
		{"/srv", "/", "/srv"},
		{"/srv", "", "/srv"},
	} {
		if got := underHome(tc.cwd, tc.src, "/root"); got != tc.want {
			t.Errorf("underHome(%q, %q) = %q, want %q", tc.cwd, tc.src, got, tc.want)
		}
	}
}

func TestFakerootRefusals(t *testing.T) {
	user := withSubIDs(userHost(), nil, nil)
	root := withSubIDs(rootHost(), nil, nil)
	for _, tc := range []struct {
		name string
		opts Options
		host Host
		want string
	}{
		{"user --fakeroot --net", userExec(func(o *Options) { o.Fakeroot = true; o.Net = true }), user, "the fakeroot CNI network needs a setuid installation"},
		{"root --fakeroot --net", execOpts(func(o *Options) { o.Fakeroot = true; o.Net = true }), root, "the fakeroot CNI network needs a setuid installation"},
		{"user --fakeroot --keep-privs", userExec(func(o *Options) { o.Fakeroot = true; o.KeepPrivs = true }), user, "--keep-privs requires root privileges"},
		{"user --fakeroot --add-caps", userExec(func(o *Options) { o.Fakeroot = true; o.AddCaps = "CAP_NET_RAW" }), user, "--add-caps requires root privileges"},
		{"root --fakeroot --boot", instanceOpts(func(o *Options) { o.Fakeroot = true; o.Boot = true }), root, "cannot be combined with --boot for root"},
		{"root --userns --overlay", execOpts(func(o *Options) { o.UserNS = true; o.Overlay = []string{"/ov"} }), root, "cannot be combined with --overlay"},
		{"root --userns --net", execOpts(func(o *Options) { o.UserNS = true; o.Net = true }), root, "cannot be combined with --net"},
		{"--fakeroot, user namespaces off", userExec(func(o *Options) { o.Fakeroot = true }), user, "User namespace required but not allowed by configuration."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conf := apptainerconf.Default()
			if strings.Contains(tc.name, "namespaces off") {
				conf = noUserNS()
			}
			_, _, err := Build(tc.opts, conf, tc.host)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want %q", err, tc.want)
			}
		})
	}
	// Positive controls: the same callers, plain --fakeroot and root's
	// plain instance.
	for _, h := range []Host{user, root} {
		if _, _, err := Build(execOpts(func(o *Options) { o.Fakeroot = true }), apptainerconf.Default(), h); err != nil {
			t.Errorf("uid %d: plain --fakeroot refused: %v", h.UID, err)
		}
	}
	if _, _, err := Build(instanceOpts(nil), apptainerconf.Default(), root); err != nil {
		t.Errorf("root's plain instance refused: %v", err)
	}
}

func hasEnv(env []string, kv string) bool {
	for _, e := range env {
		if e == kv {
			return true
		}
	}
	return false
}
