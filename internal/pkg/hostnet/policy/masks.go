package policy

import (
	"fmt"
	"strings"
)

// unitNameMax is systemd's UNIT_NAME_MAX less the terminating NUL.
const unitNameMax = 255

// unitTypes are the unit suffixes systemd knows. A name with any other
// suffix would be accepted on init's command line and silently do nothing,
// which is worse than refusing it.
var unitTypes = []string{
	".service", ".socket", ".target", ".device", ".mount", ".automount",
	".swap", ".timer", ".path", ".slice", ".scope",
}

// EffectiveMasks returns the units to mask for a --boot-hostnet instance:
// the built-in list, then the administrator's extras from apptainer.conf
// ("boot hostnet mask units"), minus the units the user unmasked with
// --boot-hostnet-unmask. Every name is checked against systemd's unit-name
// syntax. Unmasking a unit that is not on the list is an error rather than a
// no-op, so that a typo cannot leave the user believing a unit will run. The
// order is stable (built-in order, then extras in the order given) and
// duplicates are dropped.
func EffectiveMasks(confExtra, unmask []string) ([]string, error) {
	var units []string
	seen := make(map[string]bool)
	add := func(u string) {
		if !seen[u] {
			seen[u] = true
			units = append(units, u)
		}
	}
	for _, u := range DefaultMaskedUnits() {
		add(u)
	}
	for _, u := range confExtra {
		if err := checkUnitName(u); err != nil {
			return nil, fmt.Errorf("boot hostnet mask units: %w", err)
		}
		add(u)
	}

	drop := make(map[string]bool)
	for _, u := range unmask {
		if err := checkUnitName(u); err != nil {
			return nil, fmt.Errorf("--boot-hostnet-unmask: %w", err)
		}
		if !seen[u] {
			return nil, fmt.Errorf("--boot-hostnet-unmask %s: unit is not masked (see 'apptainer instance start --help')", u)
		}
		drop[u] = true
	}

	out := make([]string, 0, len(units))
	for _, u := range units {
		if !drop[u] {
			out = append(out, u)
		}
	}
	return out, nil
}

// InitArgs turns units into systemd.mask= arguments for init's command
// line. systemd reads them from /proc/1/cmdline in a container and masks the
// units in its early generator directory, which outranks /etc, so an image
// cannot unmask them.
func InitArgs(units []string) []string {
	args := make([]string, 0, len(units))
	for _, u := range units {
		args = append(args, "systemd.mask="+u)
	}
	return args
}

// checkUnitName accepts "name.type", a template "name@.type" and an
// instance "name@inst.type", with systemd's unit-name alphabet. The names
// end up on init's command line, so blanks, "/" and "=" are refused rather
// than passed on.
func checkUnitName(u string) error {
	switch {
	case u == "":
		return fmt.Errorf("invalid unit name %q: empty", u)
	case len(u) > unitNameMax:
		return fmt.Errorf("invalid unit name %q: longer than %d characters", u, unitNameMax)
	}
	for _, r := range u {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' ||
			strings.ContainsRune(":-_.\\@", r)
		if !ok {
			return fmt.Errorf("invalid unit name %q: character %q is not allowed", u, r)
		}
	}
	dot := strings.LastIndexByte(u, '.')
	if dot < 0 || !knownUnitType(u[dot:]) {
		return fmt.Errorf("invalid unit name %q: must end in a unit type such as .service or .socket", u)
	}
	stem := u[:dot]
	prefix, _, isTemplate := strings.Cut(stem, "@")
	switch {
	case prefix == "":
		return fmt.Errorf("invalid unit name %q: no name before the unit type", u)
	case isTemplate && strings.Count(stem, "@") > 1:
		return fmt.Errorf("invalid unit name %q: more than one '@'", u)
	}
	return nil
}

func knownUnitType(suffix string) bool {
	for _, t := range unitTypes {
		if suffix == t {
			return true
		}
	}
	return false
}
