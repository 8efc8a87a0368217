package apptainerconf

import (
	"bufio"
	"os"
	"reflect"
	"strings"
	"testing"
)

// templatePath is the shipped apptainer.conf, relative to this package.
const templatePath = "../../../etc/apptainer.conf"

// TestTemplateIsDefault keeps the shipped file and Default() in step: the
// file must parse, without warnings, into exactly Default(), but for
// "cni plugin path", which the installed file points at Debian's plugins
// (/usr/lib/cni) while an absent directive keeps the search list.
func TestTemplateIsDefault(t *testing.T) {
	fh, err := os.Open(templatePath)
	if err != nil {
		t.Fatalf("open template: %v", err)
	}
	defer fh.Close()
	f, warnings, err := Parse(fh, templatePath)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if len(warnings) != 0 {
		t.Errorf("warnings: %v", warnings)
	}
	if f.CNIPluginPath != "/usr/lib/cni" {
		t.Errorf("template: cni plugin path = %q, want /usr/lib/cni", f.CNIPluginPath)
	}
	f.CNIPluginPath = ""
	if want := Default(); !reflect.DeepEqual(f, want) {
		t.Errorf("template differs from Default():\n got  %+v\n want %+v", f, want)
	}
}

// TestTemplateSetsEveryDirective checks each directive is written out in
// the template (not only commented), so an admin sees every setting and
// its default in one place.
func TestTemplateSetsEveryDirective(t *testing.T) {
	data, err := os.ReadFile(templatePath)
	if err != nil {
		t.Fatalf("read template: %v", err)
	}
	set := make(map[string]bool)
	sc := bufio.NewScanner(strings.NewReader(string(data)))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		key, _, _ := strings.Cut(line, "=")
		set[normaliseKey(key)] = true
	}
	for _, d := range directives {
		if !set[d.name] {
			t.Errorf("template does not set %q", d.name)
		}
	}
}
