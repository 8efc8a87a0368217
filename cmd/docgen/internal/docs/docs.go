// Package docs renders the reference documentation that ships with an
// install: one section-1 man page per command and the bash completion
// script. It works on any cobra command tree, so it can be tested on a small
// one without building the real CLI.
package docs

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"
	"github.com/spf13/pflag"
)

// manTitle is the .TH title of every page, as upstream's pages have it.
const manTitle = "APPTAINER"

// ManHeader is the .TH header of every page for the given version. The
// date is left to cobra, which uses SOURCE_DATE_EPOCH when it is set, so
// packagers get reproducible pages.
func ManHeader(version string) *doc.GenManHeader {
	return &doc.GenManHeader{
		Title:   manTitle,
		Section: "1",
		Source:  "Apptainer " + version,
	}
}

// WriteMan writes a man page for root and each visible command under it
// into dir, named after the command path ("apptainer-instance-start.1").
// dir is created if needed. Pages already in dir are left alone: callers
// that want no stale pages start from an empty dir.
func WriteMan(root *cobra.Command, dir, version string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("failed to create man page directory %q: %w", dir, err)
	}
	// The auto-generated tag adds a HISTORY section holding the build
	// date and nothing else; without it a page changes only with its text.
	disableAutoGenTag(root)
	escapeMarkdown(root, map[*pflag.Flag]bool{})
	if err := doc.GenManTree(root, ManHeader(version), dir); err != nil {
		return fmt.Errorf("failed to write man pages into %q: %w", dir, err)
	}
	return nil
}

// WriteBashCompletion writes root's bash completion script to file. The
// script asks the installed binary for candidates (its hidden __complete
// command), so it stays right as commands and flags change.
func WriteBashCompletion(root *cobra.Command, file string) error {
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		return fmt.Errorf("failed to create the directory of %q: %w", file, err)
	}
	// Written next to the target and renamed, so an install never picks
	// up half a script from an interrupted build.
	tmp, err := os.CreateTemp(filepath.Dir(file), ".completion-*")
	if err != nil {
		return fmt.Errorf("failed to create a temporary file for %q: %w", file, err)
	}
	defer os.Remove(tmp.Name()) // fails harmlessly once renamed
	if err := root.GenBashCompletionV2(tmp, true); err != nil {
		tmp.Close()
		return fmt.Errorf("failed to generate bash completion for %q: %w", root.Name(), err)
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return fmt.Errorf("failed to set the mode of %q: %w", tmp.Name(), err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("failed to write %q: %w", tmp.Name(), err)
	}
	if err := os.Rename(tmp.Name(), file); err != nil {
		return fmt.Errorf("failed to rename %q to %q: %w", tmp.Name(), file, err)
	}
	return nil
}

// markdownEscaper protects the text cobra feeds to the markdown renderer:
// unescaped, "<image> <name>" in a usage line reads as HTML tags and
// vanishes from the page.
var markdownEscaper = strings.NewReplacer(`<`, `\<`, `>`, `\>`)

// escapeMarkdown escapes the usage line, descriptions and flag usages of
// cmd and its children. Use keeps its first word as is: it is the command's
// name. A flag shared by several commands is escaped once (seen).
func escapeMarkdown(cmd *cobra.Command, seen map[*pflag.Flag]bool) {
	if name, args, ok := strings.Cut(cmd.Use, " "); ok {
		cmd.Use = name + " " + markdownEscaper.Replace(args)
	}
	cmd.Short = markdownEscaper.Replace(cmd.Short)
	cmd.Long = markdownEscaper.Replace(cmd.Long)
	escapeFlag := func(f *pflag.Flag) {
		if !seen[f] {
			seen[f] = true
			f.Usage = markdownEscaper.Replace(f.Usage)
		}
	}
	cmd.Flags().VisitAll(escapeFlag)
	cmd.PersistentFlags().VisitAll(escapeFlag)
	for _, c := range cmd.Commands() {
		escapeMarkdown(c, seen)
	}
}

func disableAutoGenTag(cmd *cobra.Command) {
	cmd.DisableAutoGenTag = true
	for _, c := range cmd.Commands() {
		disableAutoGenTag(c)
	}
}
