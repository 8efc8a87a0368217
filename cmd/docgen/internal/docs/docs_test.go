package docs

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// testTree is a small stand-in for the real CLI: a root, a command group,
// two leaves (one with a flag) and a hidden command.
func testTree() *cobra.Command {
	root := &cobra.Command{Use: "apptainer", Short: "Linux containers for HPC"}
	instance := &cobra.Command{Use: "instance", Short: "Manage background instances"}
	start := &cobra.Command{
		Use:   "start [options] <image> <name>",
		Short: "Start a named instance of the given image",
		Run:   func(*cobra.Command, []string) {},
	}
	start.Flags().Bool("boot-hostnet", false, "boot on the host network with safeguards")
	start.Flags().String("signal", "", "send <signal> to stop")
	list := &cobra.Command{Use: "list", Short: "List running instances", Run: func(*cobra.Command, []string) {}}
	hidden := &cobra.Command{Use: "secret", Hidden: true, Run: func(*cobra.Command, []string) {}}
	instance.AddCommand(start, list)
	root.AddCommand(instance, hidden)
	return root
}

func TestWriteManPages(t *testing.T) {
	t.Setenv("SOURCE_DATE_EPOCH", "1577880000") // 2020-01-01
	dir := filepath.Join(t.TempDir(), "man")    // does not exist yet
	if err := WriteMan(testTree(), dir, "1.2.3"); err != nil {
		t.Fatal(err)
	}

	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, e.Name())
	}
	want := []string{"apptainer-instance-list.1", "apptainer-instance-start.1", "apptainer-instance.1", "apptainer.1"}
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Fatalf("pages = %q, want %q (the hidden command must have none)", got, want)
	}

	page := readFile(t, filepath.Join(dir, "apptainer-instance-start.1"))
	for _, s := range []string{
		`.TH "APPTAINER" "1" "Jan 2020" "Apptainer 1.2.3" ""`,
		`apptainer-instance-start - Start a named instance of the given image`,
		`boot-hostnet`,
		`apptainer instance start [options] <image> <name>`, // not eaten as HTML tags
		`send <signal> to stop`,
	} {
		if !strings.Contains(page, s) {
			t.Errorf("apptainer-instance-start.1 lacks %q:\n%s", s, page)
		}
	}
	for _, s := range []string{"HISTORY", "Auto generated"} {
		if strings.Contains(page, s) {
			t.Errorf("apptainer-instance-start.1 has %q, which makes pages differ by build date", s)
		}
	}
}

func TestWriteManFailsWithContext(t *testing.T) {
	file := filepath.Join(t.TempDir(), "plain-file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(file, "man") // cannot be created below a file
	err := WriteMan(testTree(), dir, "1.2.3")
	if err == nil {
		t.Fatal("WriteMan below a regular file succeeded")
	}
	if !strings.Contains(err.Error(), dir) {
		t.Errorf("error %q does not name the directory %q", err, dir)
	}
}

func TestWriteBashCompletion(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "completions", "apptainer")
	if err := WriteBashCompletion(testTree(), file); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(file)
	if err != nil {
		t.Fatal(err)
	}
	if mode := fi.Mode().Perm(); mode != 0o644 {
		t.Errorf("mode = %o, want 644", mode)
	}
	script := readFile(t, file)
	for _, s := range []string{"__start_apptainer", "__complete", "complete -o default -F __start_apptainer apptainer"} {
		if !strings.Contains(script, s) {
			t.Errorf("completion script lacks %q", s)
		}
	}
	// Only the script itself: no temporary file is left next to it.
	entries, err := os.ReadDir(filepath.Dir(file))
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		t.Errorf("completion directory holds %d entries, want 1", len(entries))
	}
}

func TestWriteBashCompletionReplaces(t *testing.T) {
	file := filepath.Join(t.TempDir(), "apptainer")
	if err := os.WriteFile(file, []byte("stale"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := WriteBashCompletion(testTree(), file); err != nil {
		t.Fatal(err)
	}
	if script := readFile(t, file); strings.Contains(script, "stale") || !strings.Contains(script, "__start_apptainer") {
		t.Errorf("the old script was not replaced:\n%.200s", script)
	}
}

func readFile(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
