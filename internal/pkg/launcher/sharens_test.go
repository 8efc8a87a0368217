package launcher

import (
	"errors"
	"testing"

	"github.com/apptainer/apptainer/internal/pkg/apptainerconf"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestShareNS(t *testing.T) {
	has := func(p string) bool { return p == "/.singularity.d/startscript" || p == "/.singularity.d/runscript" }
	h := rootHost()
	h.ImageHas = has
	for _, action := range []Action{ActionExec, ActionRun, ActionShell} {
		o := Options{Action: action, Image: "/img/debian", Args: []string{"hostname"}, ShareNS: true, ShareNSParent: 4242, InstanceName: "sharens_instance_4242"}
		c, _, err := Build(o, apptainerconf.Default(), h)
		if err != nil {
			t.Fatalf("%s --sharens: %v", action, err)
		}
		// An instance of its own kind: its PID 1 (the shim) runs neither
		// the command nor the image's start script; the containers join it.
		if c.Instance == nil || !c.Instance.ShareNS || c.Instance.StopWith != 4242 || c.Instance.Name != "sharens_instance_4242" {
			t.Errorf("%s --sharens: instance %+v", action, c.Instance)
		}
		if !c.Shim || len(c.Spec.Process.Args) != 0 {
			t.Errorf("%s --sharens: shim %v, args %v; want the shim alone", action, c.Shim, c.Spec.Process.Args)
		}
		if !hasNS(c.Spec.Linux.Namespaces, specs.PIDNamespace) {
			t.Errorf("%s --sharens: no PID namespace to share: %s", action, nsSummary(c))
		}
	}
	plain, _, err := Build(Options{Action: ActionExec, Image: "/img/debian", Args: []string{"true"}}, apptainerconf.Default(), h)
	if err != nil || plain.Instance != nil || plain.Shim {
		t.Errorf("exec without --sharens: instance %+v shim %v (%v)", plain.Instance, plain.Shim, err)
	}
	// Refused before anything starts.
	if _, _, err := Build(Options{Action: ActionExec, Image: "/img/debian", ShareNS: true, InstanceName: "sharens_instance_1"}, apptainerconf.Default(), h); !errors.Is(err, ErrInvalid) {
		t.Errorf("exec --sharens without a command: %v, want ErrInvalid", err)
	}
	if _, _, err := Build(Options{Action: ActionExec, Image: "/img/debian", Args: []string{"true"}, ShareNS: true}, apptainerconf.Default(), h); !errors.Is(err, ErrInvalid) {
		t.Errorf("--sharens without an instance name: %v, want ErrInvalid", err)
	}
}
