package hostnet

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

func needNft(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("nft"); err != nil {
		t.Skip("nft not found")
	}
}

// The generation is what lets a snapshot skip nft: it must move with every
// committed change.
func TestNftGenerationMoves(t *testing.T) {
	needNft(t)
	newFakeHost(t)
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	before, err := nftGeneration()
	if err != nil || before == 0 {
		t.Fatalf("nftGeneration() = %d, %v", before, err)
	}
	sh(t, "nft add table inet apptainer_gen_test")
	defer sh(t, "nft delete table inet apptainer_gen_test")
	after, err := nftGeneration()
	if err != nil || after == before {
		t.Errorf("generation %d after a change, %d before (err %v)", after, before, err)
	}
}

// A snapshot reuses the previous ruleset only while nf_tables is at its
// generation: a doctored copy at the current generation is taken as is,
// and after a change nft is asked again.
func TestSnapshotReusesFirewallOfSameGeneration(t *testing.T) {
	needNft(t)
	h := newFakeHost(t)
	first := take(t, h, nil)
	if first.Netfilter.Generation == 0 || !first.Netfilter.fromNft() {
		t.Fatalf("first snapshot's firewall has no generation: %+v", first.Netfilter)
	}
	doctored := Netfilter{Generation: first.Netfilter.Generation,
		Rulesets: []Ruleset{{Tool: "nft", Lines: []string{"marker line only a reuse can show"}}}}
	opts := SnapshotOptions{ResolvConf: h.ResolvConf, PreviousNetfilter: &doctored}

	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	reused, err := Take(opts)
	if err != nil {
		t.Fatal(err)
	}
	if got := reused.Netfilter.Rulesets[0].Lines; len(got) != 1 || got[0] != doctored.Rulesets[0].Lines[0] {
		t.Errorf("same generation: firewall %q, want the previous one reused", got)
	}

	sh(t, "nft add table inet apptainer_reuse_test")
	defer sh(t, "nft delete table inet apptainer_reuse_test")
	fresh, err := Take(opts)
	if err != nil {
		t.Fatal(err)
	}
	text := strings.Join(fresh.Netfilter.Rulesets[0].Lines, "\n")
	if strings.Contains(text, "marker line") || !strings.Contains(text, "apptainer_reuse_test") {
		t.Errorf("after a change the ruleset was not read again:\n%s", text)
	}
	if fresh.Netfilter.Generation == first.Netfilter.Generation {
		t.Errorf("generation did not move: %d", fresh.Netfilter.Generation)
	}
}

// A deferred snapshot describes the moment it returned: a firewall change
// made before finish runs is reported by a later comparison, whether nft
// ran before the change or after it.
func TestTakeDeferredSeesChangesBeforeFinish(t *testing.T) {
	needNft(t)
	h := newFakeHost(t)
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	s, finish, err := TakeDeferred(SnapshotOptions{ResolvConf: h.ResolvConf})
	if err != nil {
		t.Fatal(err)
	}
	sh(t, "nft add table inet apptainer_deferred_test")
	defer sh(t, "nft delete table inet apptainer_deferred_test")
	if err := finish(); err != nil {
		t.Fatal(err)
	}
	later, err := Take(SnapshotOptions{ResolvConf: h.ResolvConf, PreviousNetfilter: &s.Netfilter})
	if err != nil {
		t.Fatal(err)
	}
	d := Compare(s, later)
	if !hasKind(d, KindNetfilter) {
		t.Errorf("a firewall change before finish went unreported; diff:\n%s", d)
	}
}

// The race CI once hit: a change committed after the snapshot's moment but
// while nft was printing. nft then shows the new ruleset, and the reading
// after it a new generation. The snapshot must not pass that ruleset off as
// the one of its moment, or a later snapshot, which shows the same ruleset,
// hides the change. An nft in $PATH that commits a change just before it
// prints makes the race happen every time.
func TestTakeDeferredChangeWhileNftPrints(t *testing.T) {
	needNft(t)
	h := newFakeHost(t)
	realNft, _ := exec.LookPath("nft")
	dir := t.TempDir()
	once := filepath.Join(dir, "committed")
	wrapper := "#!/bin/sh\n" +
		"if [ \"$1\" = --stateless ] && [ ! -e " + once + " ]; then\n" +
		"\t: > " + once + "\n" +
		"\t" + realNft + " add table inet apptainer_race_test || exit 1\n" +
		"fi\n" +
		"exec " + realNft + " \"$@\"\n"
	if err := os.WriteFile(filepath.Join(dir, "nft"), []byte(wrapper), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir+string(os.PathListSeparator)+os.Getenv("PATH"))
	t.Cleanup(func() { _ = exec.Command(realNft, "delete", "table", "inet", "apptainer_race_test").Run() })

	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	s, finish, err := TakeDeferred(SnapshotOptions{ResolvConf: h.ResolvConf})
	if err != nil {
		t.Fatal(err)
	}
	if err := finish(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(once); err != nil {
		t.Fatalf("the wrapper did not run: %v", err)
	}
	later, err := Take(SnapshotOptions{ResolvConf: h.ResolvConf, PreviousNetfilter: &s.Netfilter})
	if err != nil {
		t.Fatal(err)
	}
	if !hasKind(Compare(s, later), KindNetfilter) {
		t.Errorf("a change committed while nft printed went unreported; first snapshot's firewall: %+v", s.Netfilter)
	}
}

func hasKind(d Diff, kind string) bool {
	for _, c := range d.Changes {
		if c.Kind == kind {
			return true
		}
	}
	return false
}
