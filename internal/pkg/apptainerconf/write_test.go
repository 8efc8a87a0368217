package apptainerconf

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/apptainer/apptainer/internal/pkg/runtime/config"
)

// changedFile returns a File in which every field differs from Default().
func changedFile() *File {
	return &File{
		AllowSetuid:               false,
		RootDefaultCapabilities:   CapsNo,
		AllowIpcNs:                false,
		AllowPidNs:                false,
		AllowUserNs:               false,
		AllowUtsNs:                false,
		MaxLoopDevices:            12,
		SharedLoopDevices:         true,
		ConfigPasswd:              false,
		ConfigGroup:               false,
		ConfigResolvConf:          false,
		MountProc:                 false,
		MountSys:                  false,
		MountDev:                  MountDevMinimal,
		MountDevPts:               false,
		MountHome:                 false,
		MountTmp:                  false,
		MountHostfs:               true,
		BindPath:                  []string{"/opt", "/scratch:/data", "/a:/b:ro"},
		UserBindControl:           false,
		EnableFusemount:           false,
		EnableOverlay:             OverlayTry,
		EnableUnderlay:            UnderlayNo,
		TmpSandbox:                false,
		MountSlave:                false,
		SessiondirMaxSize:         1,
		MemoryFSType:              MemoryFSRamfs,
		LimitContainerOwners:      []string{"alice"},
		LimitContainerGroups:      []string{"hpc", "ops"},
		LimitContainerPaths:       []string{"/apps"},
		AllowContainerSIF:         false,
		AllowContainerEncrypted:   false,
		AllowContainerSquashfs:    false,
		AllowContainerExtfs:       false,
		AllowContainerDir:         false,
		AllowSetuidMountEncrypted: false,
		AllowSetuidMountSquashfs:  SetuidMountNo,
		AllowSetuidMountExtfs:     true,
		AllowNetUsers:             []string{"alice", "1001"},
		AllowNetGroups:            []string{"2000"},
		AllowNetNetworks:          []string{"bridge"},
		AllowNetnsPaths:           []string{"/run/netns/a", "/run/netns/b"},
		CNIConfPath:               "/etc/cni/net.d",
		CNIPluginPath:             "/usr/lib/cni",
		AllowBootHostnet:          false,
		AllowBootHostnetUsers:     []string{"alice"},
		AllowBootHostnetGroups:    []string{"hpc", "1002"},
		BootHostnetMaskUnits:      []string{"x.service", "y@.socket"},
		BootHostnetGuard:          string(config.GuardOff),
		BootTimeout:               1,
		BootHostnetUserns:         UsernsNo,
		BinaryPath:                "/usr/bin # not a comment",
		AlwaysUseNv:               true,
		UseNvidiaContainerCli:     true,
		AlwaysUseRocm:             true,
		SystemdCgroups:            false,
		MksquashfsProcs:           2,
		MksquashfsMem:             "512M",
		ImageDriver:               "squashfuse",
		DownloadConcurrency:       0,
		DownloadPartSize:          1,
		DownloadBufferSize:        2,
		AllowMonitoring:           true,
		ApptheusSocketPath:        "/run/a = b.sock",
	}
}

// TestChangedFileChangesEveryField guards the round-trip test below: if a
// field is added to File but not to changedFile, the round trip would not
// notice WriteTo skipping it.
func TestChangedFileChangesEveryField(t *testing.T) {
	c, d := reflect.ValueOf(changedFile()).Elem(), reflect.ValueOf(Default()).Elem()
	for i := 0; i < c.NumField(); i++ {
		if reflect.DeepEqual(c.Field(i).Interface(), d.Field(i).Interface()) {
			t.Errorf("changedFile().%s equals the default", c.Type().Field(i).Name)
		}
	}
}

func TestWriteToRoundTrip(t *testing.T) {
	cleared := Default()
	cleared.BindPath = nil
	for name, f := range map[string]*File{"default": Default(), "changed": changedFile(), "cleared list": cleared} {
		t.Run(name, func(t *testing.T) {
			var b strings.Builder
			n, err := f.WriteTo(&b)
			if err != nil {
				t.Fatalf("WriteTo: %v", err)
			}
			if n != int64(b.Len()) {
				t.Errorf("WriteTo reported %d bytes, wrote %d", n, b.Len())
			}
			got, warnings, err := Parse(strings.NewReader(b.String()), "written.conf")
			if err != nil {
				t.Fatalf("Parse of WriteTo output: %v\n%s", err, b.String())
			}
			if len(warnings) != 0 {
				t.Errorf("warnings: %v", warnings)
			}
			if !reflect.DeepEqual(got, f) {
				t.Errorf("round trip changed the File:\n got  %+v\n want %+v", got, f)
			}
		})
	}
}

func TestWriteToEmptyListLine(t *testing.T) {
	f := Default()
	f.BindPath = nil
	var b strings.Builder
	if _, err := f.WriteTo(&b); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "\nbind path =\n") {
		t.Errorf("an empty bind path list is not written as a bare \"bind path =\":\n%s", b.String())
	}
}

type failingWriter struct{}

var errDiskFull = errors.New("disk full")

func (failingWriter) Write([]byte) (int, error) { return 0, errDiskFull }

func TestWriteToError(t *testing.T) {
	n, err := Default().WriteTo(failingWriter{})
	if !errors.Is(err, errDiskFull) || n != 0 {
		t.Fatalf("got %d, %v; want 0 and an error wrapping %v", n, err, errDiskFull)
	}
}
