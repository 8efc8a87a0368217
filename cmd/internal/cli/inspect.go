package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/apptainer/apptainer/internal/pkg/image"
	"github.com/apptainer/apptainer/internal/pkg/termtext"
	"github.com/spf13/cobra"
)

type inspectOptions struct {
	labels, deffile, runscript, startscript, helpfile, environment, test, all, json bool
	listApps                                                                        bool
	app                                                                             string
}

// inspectItem is one thing inspect can show: its JSON key and where it
// lives in the image.
type inspectItem struct {
	key  string
	path string
	on   *bool
}

func newInspectCommand() *cobra.Command {
	o := &inspectOptions{}
	cmd := &cobra.Command{
		Use:   "inspect [options...] <image path>",
		Short: "Show metadata for an image",
		Long: `Show the labels (the default), definition file, runscript, startscript, help
or environment of a sandbox directory or a SIF image.`,
		Example: `  apptainer inspect debian.sif
  apptainer inspect --deffile --runscript --json debian.sif`,
		Args:                  cobra.ExactArgs(1),
		DisableFlagsInUseLine: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runInspect(cmd.OutOrStdout(), o, args[0])
		},
	}
	f := cmd.Flags()
	f.BoolVarP(&o.labels, "labels", "l", false, "show the labels associated with the image (default)")
	f.BoolVarP(&o.deffile, "deffile", "d", false, "show the definition file that was used to generate the image")
	f.BoolVarP(&o.runscript, "runscript", "r", false, "show the runscript for the image")
	f.BoolVarP(&o.startscript, "startscript", "s", false, "show the startscript for the image")
	f.BoolVarP(&o.helpfile, "helpfile", "H", false, "inspect the runscript helpfile, if it exists")
	f.BoolVarP(&o.environment, "environment", "e", false, "show the environment settings for the image")
	f.BoolVarP(&o.test, "test", "t", false, "show the test script for the image")
	f.BoolVar(&o.all, "all", false, "show all available data (imply --json option)")
	f.BoolVar(&o.listApps, "list-apps", false, "list all apps in a container")
	f.StringVar(&o.app, "app", "", "inspect a specific app")
	f.BoolVarP(&o.json, "json", "j", false, "print structured json instead of sections")
	return cmd
}

func runInspect(w io.Writer, o *inspectOptions, arg string) error {
	if err := image.CheckLocal(arg); err != nil {
		return err
	}
	abs, err := filepath.Abs(arg)
	if err != nil {
		return err
	}
	files, err := image.OpenFiles(abs)
	if err != nil {
		return err
	}
	if o.listApps {
		return listApps(w, files)
	}
	items, err := inspectItems(o, files, abs)
	if err != nil {
		return err
	}
	// A SIF carries the definition and labels as descriptors: reading them
	// there avoids unpacking the file system.
	var sifMeta *image.SIF
	if kind, _ := image.Detect(abs); kind == image.KindSIF {
		if sifMeta, err = image.ReadSIF(abs); err != nil {
			return err
		}
	}
	attrs := map[string]any{}
	for _, it := range items {
		if !*it.on {
			continue
		}
		v, ok, err := inspectAttr(it, files, sifMeta, abs)
		if err != nil {
			return err
		}
		if ok {
			attrs[it.key] = v
		}
	}
	if o.json {
		doc := map[string]any{"data": map[string]any{"attributes": attrs}, "type": "container"}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "\t") // upstream indents with tabs
		return enc.Encode(doc)
	}
	for _, it := range items {
		if v, ok := attrs[it.key]; ok {
			writeInspectAttr(w, v, isTerminal(w))
		}
	}
	return nil
}

// listApps prints the image's SCIF apps, one a line.
func listApps(w io.Writer, files *image.Files) error {
	apps, err := files.ReadDir("/scif/apps")
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	for _, a := range apps {
		fmt.Fprintln(w, termtext.Line(a))
	}
	return nil
}

// inspectItems are the things inspect shows, those asked for switched on:
// the image's, or with --app the app's (its metadata is in its own scif/
// directory; the definition stays the image's).
func inspectItems(o *inspectOptions, files *image.Files, abs string) ([]inspectItem, error) {
	meta := "/.singularity.d"
	if o.app != "" {
		meta = "/scif/apps/" + o.app + "/scif"
		if ok, err := files.Has(meta); err != nil || !ok || strings.Contains(o.app, "/") {
			return nil, fmt.Errorf("no app %q in %s (see inspect --list-apps)", o.app, abs)
		}
	}
	items := []inspectItem{
		{"labels", meta + "/labels.json", &o.labels},
		{"deffile", "/.singularity.d/Singularity", &o.deffile},
		{"runscript", meta + "/runscript", &o.runscript},
		{"startscript", meta + "/startscript", &o.startscript},
		{"helpfile", meta + "/runscript.help", &o.helpfile},
		{"environment", meta + "/env/90-environment.sh", &o.environment},
		{"test", meta + "/test", &o.test},
	}
	if o.all {
		// Everything, as JSON, as upstream's --all.
		for _, it := range items {
			*it.on = true
		}
		o.json = true
	}
	if !o.deffile && !o.runscript && !o.startscript && !o.helpfile && !o.environment && !o.test {
		o.labels = true
	}
	return items, nil
}

// inspectAttr reads one item of an image: from the SIF's descriptors when
// it has them, else from the image's files; labels are decoded. A missing
// file is not an error: ok is false.
func inspectAttr(it inspectItem, files *image.Files, sifMeta *image.SIF, abs string) (any, bool, error) {
	var b []byte
	switch {
	case sifMeta != nil && it.key == "deffile" && sifMeta.Deffile != nil:
		b = sifMeta.Deffile
	case sifMeta != nil && it.key == "labels" && sifMeta.Labels != nil && it.path == "/.singularity.d/labels.json":
		b = sifMeta.Labels
	default:
		var err error
		if b, err = files.ReadFile(it.path); errors.Is(err, os.ErrNotExist) {
			return nil, false, nil
		} else if err != nil {
			return nil, false, err
		}
	}
	if it.key != "labels" {
		return string(b), true, nil
	}
	labels := map[string]string{}
	if err := json.Unmarshal(b, &labels); err != nil {
		return nil, false, fmt.Errorf("failed to decode the labels of %s: %w", abs, err)
	}
	return labels, true, nil
}

// writeInspectAttr prints one item as upstream's sections do: labels as
// sorted "key: value" lines, anything else as it is, ending in a newline.
// writeInspectAttr prints one item. The text is the image's: on a
// terminal its control characters are shown escaped (termtext), so that a
// label or script cannot drive the terminal; a pipe gets it as it is.
func writeInspectAttr(w io.Writer, v any, terminal bool) {
	line, lines := func(s string) string { return s }, func(s string) string { return s }
	if terminal {
		// Tabs stay tabs in a script; every other control character
		// is escaped.
		line = termtext.Line
		lines = func(s string) string {
			parts := strings.Split(s, "\t")
			for i, p := range parts {
				parts[i] = termtext.Lines(p)
			}
			return strings.Join(parts, "\t")
		}
	}
	if labels, isMap := v.(map[string]string); isMap {
		keys := make([]string, 0, len(labels))
		for k := range labels {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			fmt.Fprintf(w, "%s: %s\n", line(k), line(labels[k]))
		}
		return
	}
	s := lines(v.(string))
	fmt.Fprint(w, s)
	if s != "" && s[len(s)-1] != '\n' {
		fmt.Fprintln(w)
	}
}
