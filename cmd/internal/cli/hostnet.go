package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/apptainer/apptainer/internal/pkg/imageaudit"
	"github.com/apptainer/apptainer/internal/pkg/termtext"
	"github.com/spf13/cobra"
)

// Exit codes of `hostnet audit` (and `harden`, for its errors), meant for
// scripts: 0 clean, 1 risky findings, 2 the image could not be checked.
const (
	auditExitRisky = 1
	auditExitError = 2
)

// hostnetError makes err end the command with exit code 2.
func hostnetError(err error) error { return exitError{code: auditExitError, err: err} }

// hostnetArgs checks the single image argument; a wrong call is an error
// (code 2) rather than a usage error (code 1), which would read as "risky".
func hostnetArgs(what string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != 1 {
			return hostnetError(fmt.Errorf("%s expects exactly one %s, got %d arguments (see '%s --help')", cmd.CommandPath(), what, len(args), cmd.CommandPath()))
		}
		return nil
	}
}

// hostnetFlagError keeps flag mistakes on exit code 2 too.
func hostnetFlagError(cmd *cobra.Command, err error) error {
	return hostnetError(fmt.Errorf("%w (see '%s --help')", err, cmd.CommandPath()))
}

func newHostnetCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "hostnet",
		Short: "Check and prepare images for booting on the host network",
		Long: `Check and prepare systemd images for "instance start --boot --boot-hostnet".

A booted image that shares the host's network namespace runs its own
network units against the host: DHCP clients, systemd-networkd,
NetworkManager, ifupdown, udev, sysctl, firewalls, time sync, RDMA daemons.
"audit" lists every such unit and configuration file in an image;
"harden" installs the network-overrides kit, which keeps those units from
starting whenever /run/host/hostnet exists and changes nothing otherwise.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return usageError{fmt.Errorf("invalid command")}
		},
	}
	cmd.AddCommand(newHostnetAuditCommand(), newHostnetHardenCommand())
	return cmd
}

func newHostnetAuditCommand() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "audit [audit options...] <sandbox directory>",
		Short: "Report what in an image would touch the host network if booted on it",
		Long: `Report every unit and configuration file of an image that would change the
host's network if the image were booted with --boot-hostnet.

The audit reads the image's unit files (/etc/systemd/system,
/lib/systemd/system, /usr/lib/systemd/system), their enablement links
(*.wants, *.requires, aliases such as dbus-org.freedesktop.network1.service),
presets, masks and drop-ins, then .network/.netdev/.link files,
/etc/network/interfaces, NetworkManager profiles, net.* sysctl settings
and udev rules that rename or configure network links. Every path and every
symlink is resolved inside the image, never on the host.

A unit that is masked, or carries the kit's drop-in
(50-apptainer-hostnet.conf), is safe. A configuration file counts only
while a unit that reads it can start.

Exit status: 0 when nothing would touch the host network, 1 when something
would, 2 when the image could not be checked. Only sandbox directories can
be audited for now.`,
		Example: `  apptainer hostnet audit /tmp/debian
  apptainer hostnet audit --json /tmp/debian | jq '.findings[].subject'`,
		Args:                  hostnetArgs("image path"),
		DisableFlagsInUseLine: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			rep, err := imageaudit.Audit(args[0])
			if err != nil {
				return hostnetError(err)
			}
			out := cmd.OutOrStdout()
			if asJSON {
				b, err := json.MarshalIndent(rep, "", "  ")
				if err != nil {
					return hostnetError(fmt.Errorf("failed to write the report: %w", err))
				}
				// Names from the image as they are, with what a terminal
				// would act on as \u escapes.
				if _, err := out.Write(append(termtext.JSON(b), '\n')); err != nil {
					return hostnetError(fmt.Errorf("failed to write the report: %w", err))
				}
			} else {
				writeAuditText(out, rep)
			}
			if !rep.Clean() {
				return exitError{code: auditExitRisky}
			}
			return nil
		},
	}
	cmd.Flags().BoolVarP(&asJSON, "json", "j", false, "print the report as JSON")
	cmd.SetFlagErrorFunc(hostnetFlagError)
	return cmd
}

// writeAuditText prints a report for people. Unit and file names come
// from the image, which the audit is there to distrust: every field is
// escaped (termtext.Line).
func writeAuditText(w io.Writer, rep *imageaudit.Report) {
	esc := termtext.Line
	fmt.Fprintf(w, "Image: %s\n", esc(rep.Image))
	for _, f := range rep.Findings {
		fmt.Fprintf(w, "\n%-7s %s (%s)\n", strings.ToUpper(string(f.Severity)), esc(f.Subject), f.Kind)
		if f.Path != "" {
			fmt.Fprintf(w, "  file:   %s\n", esc(f.Path))
		}
		fmt.Fprintf(w, "  why:    %s\n", esc(f.Why))
		for _, a := range f.Active {
			fmt.Fprintf(w, "  starts: %s\n", esc(a))
		}
		fmt.Fprintf(w, "  fix:    %s\n", esc(f.Fix))
	}
	if len(rep.Findings) > 0 {
		fmt.Fprintln(w)
	}
	if rep.Clean() {
		fmt.Fprint(w, "Clean: nothing in this image would touch the host network when booted on it.")
	} else {
		fmt.Fprintf(w, "%d risky finding(s): booting this image on the host network would change the host.", rep.Risky)
	}
	fmt.Fprintf(w, " %d notice(s); %d unit(s) already masked or guarded.\n", rep.Notices, len(rep.Neutralized))
}

func newHostnetHardenCommand() *cobra.Command {
	var undo bool
	cmd := &cobra.Command{
		Use:   "harden [harden options...] <sandbox directory>",
		Short: "Install the network-overrides kit into a sandbox image",
		Long: `Install the network-overrides kit into a sandbox directory, or remove it.

For every unit of the built-in list (and every unlisted unit the audit
flags) a drop-in <unit>.d/50-apptainer-hostnet.conf is added under
/etc/systemd/system with

    [Unit]
    ConditionPathExists=!/run/host/hostnet

together with a rule-less /etc/udev/rules.d/80-net-setup-link.rules that
stops udev from renaming links. --boot-hostnet creates /run/host/hostnet,
so those units are skipped there; booted any other way the image behaves as
before. Existing files are never overwritten. What is added is recorded in
/etc/apptainer-hostnet-overrides.manifest, and --undo removes exactly that.
Running harden again changes nothing.`,
		Example: `  apptainer hostnet harden /tmp/debian
  apptainer hostnet audit /tmp/debian
  apptainer hostnet harden --undo /tmp/debian`,
		Args:                  hostnetArgs("sandbox directory"),
		DisableFlagsInUseLine: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			if undo {
				return runHostnetUndo(cmd.OutOrStdout(), args[0])
			}
			return runHostnetHarden(cmd.OutOrStdout(), args[0])
		},
	}
	cmd.Flags().BoolVar(&undo, "undo", false, "remove what an earlier harden added (as recorded in its manifest)")
	cmd.SetFlagErrorFunc(hostnetFlagError)
	return cmd
}

func runHostnetHarden(w io.Writer, sandbox string) error {
	res, err := imageaudit.Harden(sandbox)
	if err != nil {
		return hostnetError(err)
	}
	for _, p := range res.Kept {
		stderrLog.Warningf("Kept existing %s: it differs from the kit", p)
	}
	if len(res.Extra) > 0 {
		fmt.Fprintf(w, "Also guarded units not on the built-in list: %s\n", termtext.Join(res.Extra, ", "))
	}
	if len(res.Added) == 0 {
		fmt.Fprintf(w, "%s already holds the network-overrides kit; nothing changed.\n", termtext.Line(sandbox))
	} else {
		fmt.Fprintf(w, "Added %d file(s) to %s, recorded in %s.\n", len(res.Added), termtext.Line(sandbox), imageaudit.ManifestPath)
	}
	rep, err := imageaudit.Audit(sandbox)
	if err != nil {
		return hostnetError(err)
	}
	if !rep.Clean() {
		stderrLog.Warningf("%d risky finding(s) remain; see 'apptainer hostnet audit %s'", rep.Risky, sandbox)
		return exitError{code: auditExitRisky}
	}
	return nil
}

func runHostnetUndo(w io.Writer, sandbox string) error {
	res, err := imageaudit.Undo(sandbox)
	if err != nil {
		return hostnetError(err)
	}
	if res.Nothing {
		fmt.Fprintf(w, "%s has no %s; nothing to undo.\n", termtext.Line(sandbox), imageaudit.ManifestPath)
		return nil
	}
	for _, d := range res.KeptDirs {
		stderrLog.Warningf("Kept %s: it now holds files harden did not add", d)
	}
	fmt.Fprintf(w, "Removed %d file(s) and directories from %s.\n", len(res.Removed), termtext.Line(sandbox))
	return nil
}
