package hostnet

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
)

func TestTakeInNetns(t *testing.T) {
	h := newFakeHost(t)
	own := mustReadlink(t, threadNetns)
	peerNs := "/proc/" + strconv.Itoa(h.PeerPID) + "/ns/net"
	if h.HasIptables {
		// The firewall tools run as child processes: this rule shows that
		// they inherit the namespace of the thread that started them.
		sh(t, "nsenter -t "+strconv.Itoa(h.PeerPID)+" -n iptables -A INPUT -p tcp --dport 7777 -j DROP")
	}

	// Several rounds, so that the runtime reuses the threads that went in
	// and out of the peer namespace.
	for range 5 {
		snap, err := TakeInNetns(peerNs, SnapshotOptions{ResolvConf: h.ResolvConf})
		if err != nil {
			t.Fatalf("TakeInNetns() error: %v", err)
		}
		if want := mustReadlink(t, peerNs); snap.Netns != want {
			t.Fatalf("snapshot of %s, want %s", snap.Netns, want)
		}
		names := linkNames(snap)
		if !slices.Contains(names, "ibpeer") || slices.Contains(names, "ib0") {
			t.Fatalf("links in the peer namespace = %v, want ibpeer and no ib0", names)
		}
		if _, ok := snap.Sysctls["net.ipv4.conf.ibpeer.rp_filter"]; !ok {
			t.Errorf("sysctls of the peer namespace lack ibpeer's")
		}
		if _, ok := snap.Sysctls["net.ipv4.conf.ib0.rp_filter"]; ok {
			t.Errorf("sysctls of the peer namespace have ib0's")
		}
		// The peer's own rule must be there (when iptables could add it),
		// and the test namespace's rule (dport 9, see fakeFwRule) must not.
		if fw := fmt.Sprint(snap.Netfilter.Rulesets); (h.HasIptables && !strings.Contains(fw, "dport 7777")) || strings.Contains(fw, "dport 9 ") {
			t.Errorf("firewall of the peer namespace = %s, want its own rule only", fw)
		}
		if snap.ResolvConf == nil || snap.ResolvConf.Content != resolvContent {
			t.Errorf("resolv.conf = %+v", snap.ResolvConf)
		}
	}

	// Every thread of the process is back in the test's namespace.
	tasks, err := filepath.Glob("/proc/self/task/*/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, task := range tasks {
		ns, err := os.Readlink(task)
		if err != nil {
			continue // the thread exited since the Glob
		}
		checked++
		if ns != own {
			t.Errorf("%s is in %s, want %s", task, ns, own)
		}
	}
	if checked == 0 {
		t.Errorf("no thread's namespace could be read (of %q)", tasks)
	}
	runtime.LockOSThread()
	here, err := Take(SnapshotOptions{})
	runtime.UnlockOSThread()
	if err != nil {
		t.Fatal(err)
	}
	if here.Netns != own || !slices.Contains(linkNames(here), "ib0") {
		t.Errorf("after TakeInNetns, Take() sees %s %v", here.Netns, linkNames(here))
	}
}

func TestTakeInNetnsErrors(t *testing.T) {
	requireThrowawayNetns(t)
	tests := []struct {
		path string
		want string
	}{
		{filepath.Join(t.TempDir(), "missing"), "failed to open network namespace"},
		{"/proc/self/ns/uts", "failed to enter network namespace"},
	}
	for _, tt := range tests {
		_, err := TakeInNetns(tt.path, SnapshotOptions{})
		if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), tt.path) {
			t.Errorf("TakeInNetns(%q) error = %v, want %q naming the path", tt.path, err, tt.want)
		}
	}
}

func linkNames(s *Snapshot) []string {
	var names []string
	for _, l := range s.Links {
		names = append(names, l.Name)
	}
	return names
}
