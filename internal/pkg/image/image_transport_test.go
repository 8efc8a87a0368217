package image

import (
	"errors"
	"testing"
)

func TestCheckLocal(t *testing.T) {
	for _, arg := range []string{"docker://busybox", "oras://ghcr.io/x/y:1", "library://alpine", "docker-archive:img.tar", "oci:dir", "https://example.com/x.sif"} {
		if err := CheckLocal(arg); !errors.Is(err, ErrTransport) {
			t.Errorf("%s: %v, want ErrTransport", arg, err)
		}
	}
	for _, arg := range []string{"/img/debian", "debian.sif", "./a:b", "rel/dir", "my:image"} {
		if err := CheckLocal(arg); err != nil {
			t.Errorf("%s: %v, want a local path", arg, err)
		}
	}
}
