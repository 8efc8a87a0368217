package instance

import (
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/apptainer/apptainer/internal/pkg/termtext"
)

// The tables escape every field (termtext.Line): instance files are read
// from a user's own directory, and `instance list -u USER` prints them on
// root's terminal.

// newTable returns the tab writer upstream's `instance list` uses, so columns
// line up exactly as scripts parsing upstream's output expect.
func newTable(w io.Writer) *tabwriter.Writer {
	return tabwriter.NewWriter(w, 0, 8, 4, ' ', 0)
}

// WriteTable prints files as `instance list` does by default: name, PID, IP
// (empty without CNI) and image.
func WriteTable(w io.Writer, files []*File) error {
	tw := newTable(w)
	if _, err := fmt.Fprintln(tw, "INSTANCE NAME\tPID\tIP\tIMAGE"); err != nil {
		return fmt.Errorf("failed to write instance list header: %w", err)
	}
	for _, f := range files {
		if _, err := fmt.Fprintf(tw, "%s\t%d\t%s\t%s\n", termtext.Line(f.Name), f.Pid, termtext.Line(f.IP), termtext.Line(f.Image)); err != nil {
			return fmt.Errorf("failed to write instance %q: %w", f.Name, err)
		}
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("failed to write instance list: %w", err)
	}
	return nil
}

// WriteLogsTable prints files as `instance list --logs` does: name, PID and
// the stderr log, with the stdout log on a second line under it.
func WriteLogsTable(w io.Writer, files []*File) error {
	tw := newTable(w)
	if _, err := fmt.Fprintln(tw, "INSTANCE NAME\tPID\tLOGS"); err != nil {
		return fmt.Errorf("failed to write instance list header: %w", err)
	}
	for _, f := range files {
		if _, err := fmt.Fprintf(tw, "%s\t%d\t%s\n\t\t%s\n", termtext.Line(f.Name), f.Pid, termtext.Line(f.LogErrPath), termtext.Line(f.LogOutPath)); err != nil {
			return fmt.Errorf("failed to write instance %q: %w", f.Name, err)
		}
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("failed to write instance list: %w", err)
	}
	return nil
}

// listEntry is one instance in `instance list --json`. The first six keys
// are upstream's, in upstream's order; the rest are ours. boot and
// bootHostnet are always present so a script can test them without a
// default; maskedUnits exists only for booted instances, and state
// ("starting", "running", "degraded", "stopping") for every instance this
// runtime started (upstream's files have none).
type listEntry struct {
	Instance    string   `json:"instance"`
	Pid         int      `json:"pid"`
	Img         string   `json:"img"`
	IP          string   `json:"ip"`
	LogErrPath  string   `json:"logErrPath"`
	LogOutPath  string   `json:"logOutPath"`
	Boot        bool     `json:"boot"`
	BootHostnet bool     `json:"bootHostnet"`
	MaskedUnits []string `json:"maskedUnits,omitempty"`
	State       string   `json:"state,omitempty"`
}

// WriteJSON prints files as `instance list --json` does:
// {"instances":[...]}, indented with tabs. No instances give an empty array,
// not null.
func WriteJSON(w io.Writer, files []*File) error {
	list := struct {
		Instances []listEntry `json:"instances"`
	}{Instances: make([]listEntry, 0, len(files))}
	for _, f := range files {
		list.Instances = append(list.Instances, listEntry{
			Instance:    f.Name,
			Pid:         f.Pid,
			Img:         f.Image,
			IP:          f.IP,
			LogErrPath:  f.LogErrPath,
			LogOutPath:  f.LogOutPath,
			Boot:        f.Boot,
			BootHostnet: f.BootHostnet,
			MaskedUnits: f.MaskedUnits,
			State:       f.State,
		})
	}
	b, err := json.MarshalIndent(list, "", "\t")
	if err != nil {
		return fmt.Errorf("failed to write instance list: %w", err)
	}
	// Same values; what a terminal would act on becomes a \u escape.
	if _, err := w.Write(append(termtext.JSON(b), '\n')); err != nil {
		return fmt.Errorf("failed to write instance list: %w", err)
	}
	return nil
}
