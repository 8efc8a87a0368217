package imageaudit

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/apptainer/apptainer/internal/pkg/hostnet/policy"
)

// kitDir is the kit in the source tree, relative to this package.
const kitDir = "../../../etc/network-overrides"

func TestKitDirMatchesTheUnitList(t *testing.T) {
	diffs, err := DiffKitDir(kitDir)
	if err != nil {
		t.Fatal(err)
	}
	if len(diffs) != 0 {
		t.Fatalf("etc/network-overrides disagrees with policy.DefaultMaskedUnits; run `go generate ./internal/pkg/imageaudit`:\n%s", strings.Join(diffs, "\n"))
	}
}

// maskedUnits is policy.DefaultMaskedUnits(), which the tests below loop
// over; an empty list would let them pass without checking anything (the
// list itself is pinned in hostnet's TestDefaultMaskedUnitsPinned).
func maskedUnits(t *testing.T) []string {
	t.Helper()
	units := policy.DefaultMaskedUnits()
	if !slices.Contains(units, "systemd-networkd.service") {
		t.Fatalf("policy.DefaultMaskedUnits() = %q, want systemd-networkd.service among them", units)
	}
	return units
}

func TestKitCoversEveryUnit(t *testing.T) {
	units := maskedUnits(t)
	files := KitFiles()
	if len(files) != len(units)+1 {
		t.Fatalf("%d kit files for %d units", len(files), len(units))
	}
	byPath := map[string]string{}
	for _, f := range files {
		byPath[f.Path] = string(f.Content)
	}
	for _, u := range units {
		p := "etc/systemd/system/" + u + ".d/" + DropInName
		content, ok := byPath[p]
		if !ok {
			t.Errorf("no drop-in for %s", u)
			continue
		}
		if !hasMarkerCondition(effectiveConditions([][]byte{[]byte(content)})) {
			t.Errorf("drop-in for %s does not carry the marker condition:\n%s", u, content)
		}
		// An empty reason would be "contained" in any drop-in.
		if why := policy.MaskReason(u); why == "" || !strings.Contains(content, why) {
			t.Errorf("drop-in for %s does not say why (%q)", u, why)
		}
		if strings.HasSuffix(u, ".socket") && !strings.Contains(content, "listening on") {
			t.Errorf("socket drop-in for %s does not explain why sockets need it", u)
		}
	}
	if eff := netRuleEffects([]byte(byPath[udevOverride])); len(eff) != 0 {
		t.Errorf("the udev override has rules: %q", eff)
	}
}

// TestCopiedKitGuardsEveryUnit follows the README's first recipe: copy the
// kit's etc/ into a sandbox by hand, without harden.
func TestCopiedKitGuardsEveryUnit(t *testing.T) {
	tr := tree{}
	units := maskedUnits(t)
	for _, u := range units {
		tr[sysd+u] = svc("")
		tr[etcSysd+"multi-user.target.wants/"+u] = "->/lib/systemd/system/" + u
	}
	root := newImage(t, tr)
	if rep := mustAudit(t, root); rep.Risky != len(units) {
		t.Fatalf("before: %d risky, want one per unit", rep.Risky)
	}
	src := filepath.Join(kitDir, "etc")
	err := filepath.Walk(src, func(p string, fi os.FileInfo, err error) error {
		if err != nil || fi.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(kitDir, p)
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		writeTree(t, root, tree{rel: string(data)})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	rep := mustAudit(t, root)
	if !rep.Clean() || len(rep.Neutralized) != len(units) {
		t.Fatalf("after copying the kit: %d risky %q, %d neutralized", rep.Risky, subjects(rep), len(rep.Neutralized))
	}
}

func TestDiffAndSyncKitDir(t *testing.T) {
	dir := t.TempDir()
	readme := "# Kit\n\nintro\n\n" + readmeBegin + "\nstale table\n" + readmeEnd + "\n\nmore text\n"
	writeTree(t, dir, tree{"README.md": readme})
	if err := SyncKitDir(dir); err != nil {
		t.Fatal(err)
	}
	if diffs, err := DiffKitDir(dir); err != nil || len(diffs) != 0 {
		t.Fatalf("after sync: %q, %v", diffs, err)
	}
	got, _ := os.ReadFile(filepath.Join(dir, "README.md"))
	if !strings.HasPrefix(string(got), "# Kit\n\nintro\n\n") || !strings.HasSuffix(string(got), readmeEnd+"\n\nmore text\n") ||
		!strings.Contains(string(got), "| `systemd-networkd.service` |") || strings.Contains(string(got), "stale table") {
		t.Fatalf("README not spliced as expected:\n%s", got)
	}

	first := KitFiles()[0].Path
	second := KitFiles()[1].Path
	writeTree(t, dir, tree{
		"etc/systemd/system/gone.service.d/" + DropInName: "old\n",
		first:       "edited\n",
		"README.md": strings.Replace(string(got), "| `systemd-networkd.service` |", "| `renamed.service` |", 1),
	})
	if err := os.Remove(filepath.Join(dir, second)); err != nil {
		t.Fatal(err)
	}
	diffs, err := DiffKitDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"missing file " + second,
		"outdated file " + first,
		"outdated unit table in README.md",
		"unexpected file etc/systemd/system/gone.service.d/" + DropInName,
	}
	if !reflect.DeepEqual(diffs, want) {
		t.Fatalf("diffs = %q\nwant %q", diffs, want)
	}
	if err := SyncKitDir(dir); err != nil {
		t.Fatal(err)
	}
	if diffs, err := DiffKitDir(dir); err != nil || len(diffs) != 0 {
		t.Fatalf("after the second sync: %q, %v", diffs, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "etc/systemd/system/gone.service.d")); !os.IsNotExist(err) {
		t.Errorf("stale drop-in directory left behind: %v", err)
	}

	writeTree(t, dir, tree{"README.md": "no markers\n"})
	if diffs, _ := DiffKitDir(dir); len(diffs) != 1 || !strings.Contains(diffs[0], "markers") {
		t.Errorf("missing markers not reported: %q", diffs)
	}
	if err := SyncKitDir(dir); err == nil {
		t.Errorf("SyncKitDir accepted a README without markers")
	}
}
