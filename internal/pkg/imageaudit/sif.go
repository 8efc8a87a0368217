package imageaudit

import (
	"fmt"
	"os/exec"
	"strconv"

	"github.com/apptainer/apptainer/internal/pkg/image"
)

// sifPaths are what the audit reads: unit files, enablement links, presets
// and network, sysctl and udev configuration. /lib is usually a link into
// /usr/lib, and is unpacked as such.
var sifPaths = []string{"etc", "lib", "usr/lib/systemd", "usr/lib/sysctl.d", "usr/lib/udev", "usr/lib/NetworkManager"}

// extractSIF unpacks sifPaths of a SIF's primary partition into dest, with
// unsquashfs, so the image is read as it is stored: no mount, no loop
// device, no root needed beyond reading the file.
func extractSIF(sif, dest string) error {
	s, err := image.ReadSIF(sif)
	if err != nil {
		return fmt.Errorf("failed to audit %q: %w", sif, err)
	}
	if s.Primary.FSType != "squashfs" {
		return fmt.Errorf("failed to audit %q: its system partition is %s, not squashfs", sif, s.Primary.FSType)
	}
	args := append([]string{"-o", strconv.FormatInt(s.Primary.Offset, 10), "-no-progress", "-no-xattrs", "-d", dest, sif}, sifPaths...)
	if out, err := exec.Command("unsquashfs", args...).CombinedOutput(); err != nil {
		return fmt.Errorf("failed to unpack %q for the audit: %w: %s", sif, err, out)
	}
	return nil
}
