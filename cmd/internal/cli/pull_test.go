package cli

import (
	"errors"
	"testing"

	"github.com/apptainer/apptainer/internal/pkg/image"
)

func TestPullName(t *testing.T) {
	for in, want := range map[string]string{
		"docker://busybox":                           "busybox_latest.sif",
		"docker://busybox:1.36":                      "busybox_1.36.sif",
		"docker://127.0.0.1:5000/e2e/busybox:latest": "busybox_latest.sif",
		"docker://127.0.0.1:5000/e2e/busybox":        "busybox_latest.sif",
		"docker://alpine@sha256:abcd":                "alpine@sha256_abcd.sif",
		"docker-archive:/tmp/app.tar":                "app.tar_latest.sif",
		"oci-archive:/tmp/app.tar:v2":                "app.tar_v2.sif",
		"docker://x:a,b":                             "x_a.sif",
	} {
		if got := pullName(in); got != want {
			t.Errorf("pullName(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestCheckPullSource(t *testing.T) {
	if err := checkPullSource("docker://busybox"); err != nil {
		t.Error(err)
	}
	for _, s := range []string{"library://alpine", "oras://127.0.0.1:5000/x:1", "shub://x/y"} {
		if err := checkPullSource(s); !errors.Is(err, image.ErrTransport) {
			t.Errorf("%s: %v, want ErrTransport", s, err)
		}
	}
	var ue usageError
	if err := checkPullSource("busybox.sif"); !errors.As(err, &ue) {
		t.Errorf("a plain path: %v, want a usage error", err)
	}
}
