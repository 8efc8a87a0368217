package imageaudit

import (
	"fmt"
	"sort"
	"strings"

	"github.com/apptainer/apptainer/internal/pkg/hostnet/policy"
)

// curatedSet holds the built-in list for lookups.
func curatedSet() map[string]bool {
	set := map[string]bool{}
	for _, u := range policy.DefaultMaskedUnits() {
		set[u] = true
	}
	return set
}

// isCurated reports whether a unit, or the template it instantiates, is on
// the curated list.
func isCurated(set map[string]bool, unit string) bool {
	return set[unit] || (templateOf(unit) != "" && set[templateOf(unit)])
}

// dropInPath is where the kit's drop-in for a unit lives inside an image.
// Instances share their template's drop-in.
func dropInPath(unit string) string {
	if t := templateOf(unit); t != "" {
		unit = t
	}
	return "/etc/systemd/system/" + unit + ".d/" + DropInName
}

// unitFix tells how to neutralize a unit.
func unitFix(unit string) string {
	return fmt.Sprintf("run `apptainer hostnet harden` on the sandbox (it adds %s), or mask the unit", dropInPath(unit))
}

// unitSeverity decides how much a live (installed, not neutralized) unit
// matters: risky when the image would start it by itself, a notice when it
// would only start if something asked for it.
func (a *auditor) unitSeverity(unit string) (Severity, []string) {
	why := a.acts.reasons(unit)
	if canon := a.ix.canonical(unit); canon != unit {
		why = append(why, a.acts.reasons(canon)...)
	}
	if len(why) > 0 {
		return SeverityRisky, why
	}
	if rule, ok := presetFor(a.presets, unit); ok && rule.Action == "enable" {
		if a.firstBoot {
			return SeverityRisky, []string{fmt.Sprintf("enabled at first boot (no initialized /etc/machine-id) by the preset %s", rule.File)}
		}
		return SeverityNotice, []string{fmt.Sprintf("`systemctl preset` would enable it (%s)", rule.File)}
	}
	return SeverityNotice, []string{"installed but not enabled: it starts only if another unit, D-Bus or an admin asks for it"}
}

// consumerSeverity returns the highest severity among the units that would
// read a configuration file, and the unit responsible.
func (a *auditor) consumerSeverity(consumers []string) (Severity, string) {
	best, who := Severity(""), ""
	for _, c := range consumers {
		st, err := a.ix.status(c)
		if err != nil || !st.Installed || st.neutralized() {
			continue
		}
		sev, _ := a.unitSeverity(c)
		if best == "" || sev == SeverityRisky && best != SeverityRisky {
			best, who = sev, c
		}
	}
	return best, who
}

// unitFindings checks every curated unit, then looks for unlisted units
// that network targets enable and for DHCP clients.
func (a *auditor) unitFindings(rep *Report) error {
	curated := curatedSet()
	for _, u := range policy.DefaultMaskedUnits() {
		st, err := a.ix.status(u)
		if err != nil {
			return err
		}
		if a.addNeutralized(rep, st) || !st.Installed {
			continue
		}
		sev, active := a.unitSeverity(u)
		why := policy.MaskReason(u)
		if canon := a.ix.canonical(u); canon != u {
			why += fmt.Sprintf(" (here an alias of %s)", canon)
		}
		rep.Findings = append(rep.Findings, a.liveUnitFinding(st, sev, KindUnit, why, active))
	}

	units := make([]string, 0, len(a.acts.why))
	for u := range a.acts.why {
		units = append(units, u)
	}
	sort.Strings(units)
	for _, u := range units {
		wantedBy, dhcp := a.acts.networkWanted[u], isDHCPClientUnit(u)
		if isCurated(curated, u) || strings.HasSuffix(u, ".target") || (wantedBy == "" && !dhcp) {
			continue
		}
		st, err := a.ix.status(u)
		if err != nil {
			return err
		}
		if a.addNeutralized(rep, st) || !st.Installed {
			continue
		}
		why := fmt.Sprintf("not on the curated list, but enabled in %s, so it most likely sets up the network", wantedBy)
		if dhcp {
			why = "a DHCP client: it would lease addresses and install routes on the host's links"
		}
		rep.Findings = append(rep.Findings, a.liveUnitFinding(st, SeverityRisky, KindNetworkUnit, why, a.acts.reasons(u)))
	}
	return nil
}

// addNeutralized records a masked or guarded unit; it reports whether it did.
func (a *auditor) addNeutralized(rep *Report, st unitStatus) bool {
	switch {
	case st.Masked:
		rep.Neutralized = append(rep.Neutralized, Neutralized{Unit: st.Name, How: "masked", Path: st.MaskPath})
	case st.Guarded:
		rep.Neutralized = append(rep.Neutralized, Neutralized{Unit: st.Name, How: "guarded", Path: st.GuardPath})
	default:
		return false
	}
	return true
}

// liveUnitFinding builds the finding for a unit that can start.
func (a *auditor) liveUnitFinding(st unitStatus, sev Severity, kind Kind, why string, active []string) Finding {
	f := Finding{Severity: sev, Kind: kind, Subject: st.Name, Path: st.Fragment.Path, Why: why, Active: active, Fix: unitFix(st.Name)}
	if st.Fragment.SysV {
		f.Why += " (a SysV init script that systemd turns into a unit)"
	}
	if st.ResetPath != "" {
		f.Why += fmt.Sprintf("; the marker condition is set but %s resets all conditions after it", st.ResetPath)
		f.Fix = fmt.Sprintf("remove the empty Condition…= assignment from %s (it throws away every condition set before it), or mask the unit", st.ResetPath)
	}
	return f
}

// networkUnitsToGuard returns the unlisted units an audit flags, as the
// names whose drop-in directories Harden fills (templates for instances).
func (rep *Report) networkUnitsToGuard() []string {
	seen := map[string]bool{}
	var out []string
	for _, f := range rep.Findings {
		if f.Kind != KindNetworkUnit {
			continue
		}
		u := f.Subject
		if t := templateOf(u); t != "" {
			u = t
		}
		if !seen[u] {
			seen[u] = true
			out = append(out, u)
		}
	}
	sort.Strings(out)
	return out
}
