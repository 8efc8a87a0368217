package build

import (
	"fmt"
	"regexp"
	"slices"
)

// AppSectionNames are the sections of a SCIF app (Scientific Filesystem),
// each written "%apprun NAME": the app's install script, files,
// environment, test, help, runscript, startscript and labels.
var AppSectionNames = []string{"appinstall", "appfiles", "appenv", "apptest", "apphelp", "apprun", "appstart", "applabels"}

// appName is what an app may be called: it becomes a directory and a part
// of variable names (SCIF_APPROOT_NAME).
var appName = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]*$`)

// App is one SCIF app of a definition.
type App struct {
	Name string
	// Sections by kind ("apprun", ...).
	Sections map[string]Section
}

// Body returns the text of the app's section kind, "" if absent.
func (a App) Body(kind string) string { return a.Sections[kind].Body }

// Has reports whether the app has a section kind.
func (a App) Has(kind string) bool { _, ok := a.Sections[kind]; return ok }

// Files parses the app's %appfiles.
func (a App) Files() ([]FileCopy, error) {
	s, ok := a.Sections["appfiles"]
	if !ok {
		return nil, nil
	}
	return filesOf(s)
}

// Labels parses the app's %applabels.
func (a App) Labels() ([]Label, error) {
	s, ok := a.Sections["applabels"]
	if !ok {
		return nil, nil
	}
	return labelsOf(s)
}

// checkAppSection refuses an app section without a valid name, or one
// given twice for the same app.
func (d *Definition) checkAppSection(kind, name string, line int, cur *Section) error {
	if !appName.MatchString(name) {
		return &ParseError{line, "%" + kind, fmt.Sprintf("%%%s needs an app name (letters, digits, '_', '.', '-'), got %q", kind, name)}
	}
	dup := cur != nil && cur.Name == kind && cur.Args == name
	for _, a := range d.Apps {
		if a.Name == name && a.Has(kind) {
			dup = true
		}
	}
	if dup {
		return &ParseError{line, "%" + kind, fmt.Sprintf("section %%%s %s appears twice", kind, name)}
	}
	return nil
}

// addAppSection files a parsed app section under its app.
func (d *Definition) addAppSection(s Section) {
	i := slices.IndexFunc(d.Apps, func(a App) bool { return a.Name == s.Args })
	if i < 0 {
		d.Apps = append(d.Apps, App{Name: s.Args, Sections: map[string]Section{}})
		i = len(d.Apps) - 1
	}
	d.Apps[i].Sections[s.Name] = s
}
