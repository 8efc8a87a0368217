package cli

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/apptainer/apptainer/internal/pkg/launcher"
)

func TestInstanceConf(t *testing.T) {
	for _, tt := range []struct {
		name, text string
		cmdline    []string
		wantImage  string
		wantArgs   []string
		wantFlags  map[string]string
		wantErr    string
	}{
		{name: "flags, a list flag twice, comments, blanks",
			text:      "# node\nimage = /srv/images/node.sif\n\nboot = true\nhostname = node1\nbind = /etc/munge:/etc/munge:ro\nbind = /srv/data\n",
			wantImage: "/srv/images/node.sif",
			wantFlags: map[string]string{"boot": "true", "hostname": "node1", "bind": "[/etc/munge:/etc/munge:ro,/srv/data]"}},
		{name: "values are literal: blanks, quotes, '#', '=', '$' and a flag-like text stay as they are",
			text:      "image = /srv/my images/a=b.sif\nhostname = \"x\" # y $HOME --keep-privs\narg = --verbose\narg = two words\n",
			wantImage: "/srv/my images/a=b.sif", wantArgs: []string{"--verbose", "two words"},
			wantFlags: map[string]string{"hostname": "\"x\" # y $HOME --keep-privs", "keep-privs": "false"}},
		{name: "no image", text: "boot = true\n", wantErr: "no image"},
		{name: "empty image", text: "image =\n", wantErr: "image is empty"},
		{name: "image twice", text: "image = /a\nimage = /b\n", wantErr: ":2: image is set twice"},
		{name: "unknown key", text: "image = /a\nbooot = true\n", wantErr: ":2: unknown key \"booot\""},
		{name: "the file cannot name another file", text: "image = /a\nconf = /etc/other.conf\n", wantErr: "unknown key \"conf\""},
		{name: "a line without =", text: "image = /a\n--boot\n", wantErr: ":2: want \"key = value\""},
		{name: "a line with no key", text: "image = /a\n= x\n", wantErr: ":2: want \"key = value\""},
		{name: "a scalar flag twice", text: "image = /a\nhostname = a\nhostname = b\n", wantErr: ":3: hostname is set twice"},
		{name: "a flag on the command line and in the file", cmdline: []string{"--hostname", "x"},
			text: "image = /a\nhostname = b\n", wantErr: "--hostname is given on the command line too"},
		{name: "a bad boolean", text: "image = /a\nboot = maybe\n", wantErr: ":2: boot:"},
		{name: "too large", text: "image = /a\n# " + strings.Repeat("x", confMaxBytes) + "\n", wantErr: "larger than"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cmd := newInstanceStartCommand(launcher.ActionInstanceStart)
			fs := cmd.Flags()
			if err := fs.Parse(tt.cmdline); err != nil {
				t.Fatal(err)
			}
			entries, err := parseInstanceConf(strings.NewReader(tt.text), "demo.conf")
			var c *instanceConf
			if err == nil {
				c, err = checkInstanceConf(entries, fs, "demo.conf")
			}
			if err == nil {
				err = applyInstanceConf(c, fs, "demo.conf")
			}
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got %v, want an error with %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.image != tt.wantImage || !slices.Equal(c.args, tt.wantArgs) {
				t.Errorf("image %q args %q, want %q %q", c.image, c.args, tt.wantImage, tt.wantArgs)
			}
			for k, v := range tt.wantFlags {
				if got := fs.Lookup(k).Value.String(); got != v {
					t.Errorf("--%s = %q, want %q", k, got, v)
				}
			}
		})
	}
}

// TestInstanceConfFileSafe: root runs what the file says, so a file
// others may change is refused; the positive control is the same file
// with safe permissions.
func TestInstanceConfFileSafe(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to own the file")
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "demo.conf")
	if err := os.WriteFile(path, []byte("image = /srv/demo\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	fs := newInstanceStartCommand(launcher.ActionInstanceStart).Flags()
	if c, err := readInstanceConf(path, fs); err != nil || c.image != "/srv/demo" {
		t.Fatalf("positive control: a root-owned 0644 file: %v", err)
	}
	for _, mode := range []os.FileMode{0o666, 0o664, 0o646} {
		if err := os.Chmod(path, mode); err != nil {
			t.Fatal(err)
		}
		if _, err := readInstanceConf(path, fs); err == nil || !strings.Contains(err.Error(), "must not be writable") {
			t.Errorf("mode %04o: %v", mode, err)
		}
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(path, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	if _, err := readInstanceConf(path, fs); err == nil || !strings.Contains(err.Error(), "must be owned by root") {
		t.Errorf("a file of nobody's: %v", err)
	}
	if _, err := readInstanceConf(dir, fs); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("a directory: %v", err)
	}
}
