package build

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

const fullDef = `# A comment before the header
Bootstrap: debootstrap
OSVersion: bookworm
MirrorURL: http://deb.debian.org/debian
Include: systemd, dbus iproute2

%setup
    touch "$APPTAINER_ROOTFS/setup-ran"
%files
    # comment in files
    /etc/hosts
    /etc/passwd /opt/passwd
%post
    # comments stay in scripts
    apt-get clean
%environment
    export LC_ALL=C
%runscript
    exec echo "$@"
%startscript
    exec sleep infinity
%labels
    Maintainer HPC team
    Version 1.0
%help
    Boots Debian.
`

func TestParseFull(t *testing.T) {
	d, err := Parse(strings.NewReader(fullDef))
	if err != nil {
		t.Fatal(err)
	}
	wantHeader := map[string]string{
		"bootstrap": "debootstrap", "osversion": "bookworm",
		"mirrorurl": "http://deb.debian.org/debian", "include": "systemd, dbus iproute2",
	}
	if !reflect.DeepEqual(d.Header, wantHeader) {
		t.Errorf("header %v; want %v", d.Header, wantHeader)
	}
	bodies := map[string]string{
		"setup":       "    touch \"$APPTAINER_ROOTFS/setup-ran\"\n",
		"post":        "    # comments stay in scripts\n    apt-get clean\n",
		"environment": "    export LC_ALL=C\n",
		"runscript":   "    exec echo \"$@\"\n",
		"startscript": "    exec sleep infinity\n",
		"help":        "    Boots Debian.\n",
	}
	for name, want := range bodies {
		if got := d.Body(name); got != want {
			t.Errorf("%%%s body %q; want %q", name, got, want)
		}
	}
	var names []string
	for _, s := range d.Sections {
		names = append(names, s.Name)
	}
	// Written out rather than taken from SectionNames, which the parser
	// itself uses to accept sections.
	wantNames := []string{"setup", "files", "post", "environment", "runscript", "startscript", "labels", "help"}
	if !reflect.DeepEqual(names, wantNames) {
		t.Errorf("sections %v; want %v", names, wantNames)
	}
	if s, _ := d.Section("setup"); s.Line != 7 {
		t.Errorf("%%setup at line %d; want 7", s.Line)
	}
	files, err := d.Files()
	if err != nil {
		t.Errorf("Files: %v", err)
	}
	if want := []FileCopy{{"/etc/hosts", "/etc/hosts"}, {"/etc/passwd", "/opt/passwd"}}; !reflect.DeepEqual(files, want) {
		t.Errorf("files %v; want %v", files, want)
	}
	labels, err := d.Labels()
	if err != nil {
		t.Errorf("Labels: %v", err)
	}
	if want := []Label{{"Maintainer", "HPC team"}, {"Version", "1.0"}}; !reflect.DeepEqual(labels, want) {
		t.Errorf("labels %v; want %v", labels, want)
	}
	if string(d.Raw) != fullDef {
		t.Error("Raw is not the file as read")
	}
	if got := debootstrapArgs(d.Header, "/r"); !reflect.DeepEqual(got, []string{"debootstrap", "--variant=minbase",
		"--include=systemd,dbus,iproute2", "bookworm", "/r", "http://deb.debian.org/debian"}) {
		t.Errorf("debootstrap args %v", got)
	}
}

func TestParseLocalImageAndCase(t *testing.T) {
	d, err := Parse(strings.NewReader("bootstrap: localimage\nFROM: /img.sif\n%POST\necho hi\n"))
	if err != nil {
		t.Fatal(err)
	}
	if d.Header["from"] != "/img.sif" || d.Body("post") != "echo hi\n" {
		t.Errorf("parsed %v %q", d.Header, d.Body("post"))
	}
}

func TestParseErrors(t *testing.T) {
	cases := []struct {
		name, def string
		line      int
		section   string
		msg       string
	}{
		{"empty", "", 1, "header", "no \"Bootstrap:\" header"},
		{"comments only", "# nothing\n\n", 1, "header", "no \"Bootstrap:\" header"},
		{"no colon", "Bootstrap: localimage\nFrom /x\n", 2, "header", "invalid header line"},
		{"unknown key", "Bootstrap: localimage\nFrom: /x\nStage: one\n", 3, "header", "unknown header keyword \"Stage\""},
		{"duplicate key", "Bootstrap: localimage\nFrom: /x\nfrom: /y\n", 3, "header", "given twice"},
		{"key before bootstrap", "\n# c\nFrom: /x\nBootstrap: localimage\n", 3, "header", "before Bootstrap"},
		{"empty value", "Bootstrap: localimage\nFrom:\n", 2, "header", "has no value"},
		{"bad agent", "Bootstrap: dockr\nFrom: alpine\n", 1, "header", "unsupported bootstrap agent \"dockr\""},
		{"library", "Bootstrap: library\nFrom: alpine\n", 1, "header", "Bootstrap: library is not supported by this build"},
		{"shub", "Bootstrap: shub\nFrom: x/y\n", 1, "header", "Bootstrap: shub is not supported by this build"},
		{"oras no from", "Bootstrap: oras\n%post\n", 1, "header", "Bootstrap: oras needs \"From:\""},
		{"docker no from", "Bootstrap: docker\nRegistry: 127.0.0.1:5000\n", 1, "header", "Bootstrap: docker needs \"From:\""},
		{"registry not docker", "Bootstrap: oci-archive\nFrom: x.tar\nRegistry: r\n", 1, "header", "Bootstrap: docker only"},
		{"debootstrap no mirror", "Bootstrap: debootstrap\nOSVersion: bookworm\n", 1, "header", "needs \"mirrorurl\""},
		{"localimage no from", "Bootstrap: localimage\n%post\n", 1, "header", "needs \"From:\""},
		{"unknown section", "Bootstrap: localimage\nFrom: /x\n%post\necho\n%tset\n", 5, "%post", "unknown section %tset"},
		{"unknown first section", "Bootstrap: localimage\nFrom: /x\n%app\n", 3, "header", "unknown section %app"},
		{"duplicate section", "Bootstrap: localimage\nFrom: /x\n%post\na\n%post\nb\n", 5, "%post", "appears twice"},
		{"files too many fields", "Bootstrap: localimage\nFrom: /x\n%files\n# c\n/a /b /c\n", 5, "%files", "source [destination]"},
		{"files from stage", "Bootstrap: localimage\nFrom: /x\n%files from build\n/a\n", 3, "%files", "not supported"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse(strings.NewReader(c.def))
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("error %v; want a ParseError", err)
			}
			if pe.Line != c.line || pe.Section != c.section || !strings.Contains(pe.Msg, c.msg) {
				t.Errorf("got line %d section %q msg %q; want line %d section %q msg containing %q",
					pe.Line, pe.Section, pe.Msg, c.line, c.section, c.msg)
			}
			if !strings.Contains(err.Error(), "line ") {
				t.Errorf("message %q does not name the line", err)
			}
		})
	}
}

func FuzzParseDefinition(f *testing.F) {
	f.Add(fullDef)
	f.Add("Bootstrap: localimage\nFrom: /x\n%post\n%labels\nA\n")
	f.Fuzz(func(t *testing.T, s string) {
		d, err := Parse(strings.NewReader(s))
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) || pe.Line < 1 {
				t.Fatalf("error without a line: %v", err)
			}
			return
		}
		if d.Header["bootstrap"] == "" {
			t.Fatal("accepted a definition without Bootstrap")
		}
		seen := map[string]bool{}
		for _, sec := range d.Sections {
			if seen[sec.Name] {
				t.Fatalf("section %s twice", sec.Name)
			}
			seen[sec.Name] = true
		}
	})
}
