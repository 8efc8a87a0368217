package apptainerconf

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/apptainer/apptainer/internal/pkg/runtime/config"
)

// directiveCase sets one directive to a good value and checks the field it
// lands in, then feeds it a bad value and checks the error names the file,
// the line, the directive and the value. The table is written out by hand
// rather than derived from the directive table, so it also checks that
// each name is wired to the right field.
type directiveCase struct {
	name  string
	good  string
	field func(*File) any
	want  any
	bad   string // "" for free-text directives, which take any value
}

var directiveCases = []directiveCase{
	{"allow setuid", "no", func(f *File) any { return f.AllowSetuid }, false, "maybe"},
	{"root default capabilities", "file", func(f *File) any { return f.RootDefaultCapabilities }, CapsFile, "some"},
	{"allow ipc ns", "no", func(f *File) any { return f.AllowIpcNs }, false, "1"},
	{"allow pid ns", "NO", func(f *File) any { return f.AllowPidNs }, false, "true"},
	{"allow user ns", "no", func(f *File) any { return f.AllowUserNs }, false, "off"},
	{"allow uts ns", "no", func(f *File) any { return f.AllowUtsNs }, false, "n"},
	{"max loop devices", "0", func(f *File) any { return f.MaxLoopDevices }, 0, "-3"},
	{"shared loop devices", "yes", func(f *File) any { return f.SharedLoopDevices }, true, "yess"},
	{"config passwd", "no", func(f *File) any { return f.ConfigPasswd }, false, ""},
	{"config group", "no", func(f *File) any { return f.ConfigGroup }, false, "yes no"},
	{"config resolv_conf", "no", func(f *File) any { return f.ConfigResolvConf }, false, "0"},
	{"mount proc", "no", func(f *File) any { return f.MountProc }, false, "false"},
	{"mount sys", "no", func(f *File) any { return f.MountSys }, false, "ro"},
	{"mount dev", "Minimal", func(f *File) any { return f.MountDev }, MountDevMinimal, "min"},
	{"mount devpts", "no", func(f *File) any { return f.MountDevPts }, false, "maybe"},
	{"mount home", "no", func(f *File) any { return f.MountHome }, false, "maybe"},
	{"mount tmp", "no", func(f *File) any { return f.MountTmp }, false, "maybe"},
	{"mount hostfs", "yes", func(f *File) any { return f.MountHostfs }, true, "maybe"},
	{"bind path", "/opt, /scratch:/data", func(f *File) any { return f.BindPath }, []string{"/opt", "/scratch:/data"}, "opt"},
	{"user bind control", "no", func(f *File) any { return f.UserBindControl }, false, "maybe"},
	{"enable fusemount", "no", func(f *File) any { return f.EnableFusemount }, false, "maybe"},
	{"enable overlay", "driver", func(f *File) any { return f.EnableOverlay }, OverlayDriver, "preferred"},
	{"enable underlay", "preferred", func(f *File) any { return f.EnableUnderlay }, UnderlayPreferred, "try"},
	{"tmp sandbox", "no", func(f *File) any { return f.TmpSandbox }, false, "maybe"},
	{"mount slave", "no", func(f *File) any { return f.MountSlave }, false, "maybe"},
	{"sessiondir max size", "128", func(f *File) any { return f.SessiondirMaxSize }, 128, "64M"},
	{"memory fs type", "ramfs", func(f *File) any { return f.MemoryFSType }, MemoryFSRamfs, "ext4"},
	{"limit container owners", "alice, bob", func(f *File) any { return f.LimitContainerOwners }, []string{"alice", "bob"}, ""},
	{"limit container groups", "hpc", func(f *File) any { return f.LimitContainerGroups }, []string{"hpc"}, ""},
	{"limit container paths", "/apps, /scratch", func(f *File) any { return f.LimitContainerPaths }, []string{"/apps", "/scratch"}, "apps"},
	{"allow container sif", "no", func(f *File) any { return f.AllowContainerSIF }, false, "maybe"},
	{"allow container encrypted", "no", func(f *File) any { return f.AllowContainerEncrypted }, false, "maybe"},
	{"allow container squashfs", "no", func(f *File) any { return f.AllowContainerSquashfs }, false, "maybe"},
	{"allow container extfs", "no", func(f *File) any { return f.AllowContainerExtfs }, false, "maybe"},
	{"allow container dir", "no", func(f *File) any { return f.AllowContainerDir }, false, "maybe"},
	{"allow setuid-mount encrypted", "no", func(f *File) any { return f.AllowSetuidMountEncrypted }, false, "maybe"},
	{"allow setuid-mount squashfs", "yes", func(f *File) any { return f.AllowSetuidMountSquashfs }, SetuidMountYes, "iflimit"},
	{"allow setuid-mount extfs", "yes", func(f *File) any { return f.AllowSetuidMountExtfs }, true, "maybe"},
	{"allow net users", "alice,1001", func(f *File) any { return f.AllowNetUsers }, []string{"alice", "1001"}, ""},
	{"allow net groups", "hpc, 2000", func(f *File) any { return f.AllowNetGroups }, []string{"hpc", "2000"}, ""},
	{"allow net networks", "bridge,ptp", func(f *File) any { return f.AllowNetNetworks }, []string{"bridge", "ptp"}, ""},
	{"allow netns paths", "/run/netns/shared", func(f *File) any { return f.AllowNetnsPaths }, []string{"/run/netns/shared"}, "run/netns/x"},
	{"cni configuration path", "/etc/cni/net.d", func(f *File) any { return f.CNIConfPath }, "/etc/cni/net.d", "cni/net.d"},
	{"cni plugin path", "/usr/lib/cni", func(f *File) any { return f.CNIPluginPath }, "/usr/lib/cni", "./bin"},
	{"allow boot hostnet", "no", func(f *File) any { return f.AllowBootHostnet }, false, "sometimes"},
	{"allow boot hostnet users", "alice, 1001", func(f *File) any { return f.AllowBootHostnetUsers }, []string{"alice", "1001"}, ""},
	{"allow boot hostnet groups", "hpc", func(f *File) any { return f.AllowBootHostnetGroups }, []string{"hpc"}, ""},
	{"boot hostnet mask units", "my-vpn.service, ifup@.service", func(f *File) any { return f.BootHostnetMaskUnits },
		[]string{"my-vpn.service", "ifup@.service"}, "my vpn.service"},
	{"boot hostnet guard", "fail", func(f *File) any { return f.BootHostnetGuard }, string(config.GuardFail), "panic"},
	{"boot timeout", "300", func(f *File) any { return f.BootTimeout }, 300, "0"},
	{"boot console log size", "0", func(f *File) any { return f.BootConsoleLogSize }, 0, "65537"},
	{"boot hostnet userns", "optional", func(f *File) any { return f.BootHostnetUserns }, UsernsOptional, "maybe"},
	{"binary path", "/opt/bin:/usr/bin", func(f *File) any { return f.BinaryPath }, "/opt/bin:/usr/bin", ""},
	{"always use nv", "yes", func(f *File) any { return f.AlwaysUseNv }, true, "maybe"},
	{"use nvidia-container-cli", "yes", func(f *File) any { return f.UseNvidiaContainerCli }, true, "maybe"},
	{"always use rocm", "yes", func(f *File) any { return f.AlwaysUseRocm }, true, "maybe"},
	{"systemd cgroups", "no", func(f *File) any { return f.SystemdCgroups }, false, "maybe"},
	{"mksquashfs procs", "4", func(f *File) any { return f.MksquashfsProcs }, 4, "four"},
	{"mksquashfs mem", "1G", func(f *File) any { return f.MksquashfsMem }, "1G", ""},
	{"image driver", "squashfuse", func(f *File) any { return f.ImageDriver }, "squashfuse", ""},
	{"download concurrency", "8", func(f *File) any { return f.DownloadConcurrency }, 8, "3.5"},
	{"download part size", "1048576", func(f *File) any { return f.DownloadPartSize }, 1048576, "1M"},
	{"download buffer size", "65536", func(f *File) any { return f.DownloadBufferSize }, 65536, "99999999999999999999"},
	{"allow monitoring", "yes", func(f *File) any { return f.AllowMonitoring }, true, "maybe"},
	{"apptheus socket path", "/run/gw.sock", func(f *File) any { return f.ApptheusSocketPath }, "/run/gw.sock", "gw.sock"},
}

func TestDirectiveGoodValues(t *testing.T) {
	for _, tc := range directiveCases {
		t.Run(tc.name, func(t *testing.T) {
			def := tc.field(Default())
			if reflect.DeepEqual(def, tc.want) {
				t.Fatalf("good value %q gives the default %v; pick one that shows the change", tc.good, def)
			}
			f, warnings, err := Parse(strings.NewReader(tc.name+" = "+tc.good+"\n"), "test.conf")
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if len(warnings) != 0 {
				t.Errorf("warnings: %v", warnings)
			}
			if got := tc.field(f); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("%s = %q: got %#v, want %#v", tc.name, tc.good, got, tc.want)
			}
			// Nothing but this directive may change.
			if got, want := renderWithout(t, f, tc.name), renderWithout(t, Default(), tc.name); got != want {
				t.Errorf("other directives changed:\n%s\nwant:\n%s", got, want)
			}
		})
	}
}

func TestDirectiveBadValues(t *testing.T) {
	for _, tc := range directiveCases {
		if tc.bad == "" {
			continue
		}
		t.Run(tc.name, func(t *testing.T) {
			in := "# a comment\n\n" + tc.name + " = " + tc.bad + "\n"
			f, _, err := Parse(strings.NewReader(in), "/etc/apptainer/apptainer.conf")
			if err == nil {
				t.Fatalf("%s = %q accepted, gave %#v", tc.name, tc.bad, tc.field(f))
			}
			msg := err.Error()
			for _, part := range []string{"/etc/apptainer/apptainer.conf:3: ", `"` + tc.name + `"`, `"` + tc.bad + `"`, "want "} {
				if !strings.Contains(msg, part) {
					t.Errorf("error %q does not contain %q", msg, part)
				}
			}
			if f != nil {
				t.Errorf("Parse returned a File with the error")
			}
		})
	}
}

// TestBadValueMessage pins the exact wording of one error.
func TestBadValueMessage(t *testing.T) {
	_, _, err := Parse(strings.NewReader("allow setuid = maybe\n"), "apptainer.conf")
	want := `apptainer.conf:1: bad value "maybe" for "allow setuid": want yes or no`
	if err == nil || err.Error() != want {
		t.Fatalf("got %v, want %s", err, want)
	}
	var pe *ParseError
	if !errors.As(err, &pe) || pe.Line != 1 || pe.File != "apptainer.conf" {
		t.Errorf("error is not a *ParseError for line 1: %#v", err)
	}
}

// TestDirectiveCasesCoverTable fails when a directive is added without a
// row above.
func TestDirectiveCasesCoverTable(t *testing.T) {
	tested := make(map[string]bool)
	for _, tc := range directiveCases {
		if tested[tc.name] {
			t.Errorf("directive %q has two rows", tc.name)
		}
		tested[tc.name] = true
	}
	for _, d := range directives {
		if !tested[d.name] {
			t.Errorf("directive %q has no row in directiveCases", d.name)
		}
	}
	if len(tested) != len(directives) {
		t.Errorf("%d rows for %d directives", len(tested), len(directives))
	}
}

// renderWithout renders f with the lines of one directive left out.
func renderWithout(t *testing.T, f *File, name string) string {
	t.Helper()
	var b strings.Builder
	if _, err := f.WriteTo(&b); err != nil {
		t.Fatalf("WriteTo: %v", err)
	}
	var kept []string
	for _, line := range strings.Split(b.String(), "\n") {
		if !strings.HasPrefix(line, name+" =") {
			kept = append(kept, line)
		}
	}
	return strings.Join(kept, "\n")
}
