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
		"oras://127.0.0.1:5000/e2e/busybox:v1":       "busybox_v1.sif",
		"oras://127.0.0.1:5000/e2e/busybox":          "busybox_latest.sif",
	} {
		if got := pullName(in); got != want {
			t.Errorf("pullName(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestCheckPullSource(t *testing.T) {
	for _, s := range []string{"docker://busybox", "oras://127.0.0.1:5000/x:1"} {
		if err := checkPullSource(s); err != nil {
			t.Error(err)
		}
	}
	for _, s := range []string{"library://alpine", "oras:127.0.0.1:5000/x:1", "shub://x/y"} {
		if err := checkPullSource(s); !errors.Is(err, image.ErrTransport) {
			t.Errorf("%s: %v, want ErrTransport", s, err)
		}
	}
	var ue usageError
	if err := checkPullSource("busybox.sif"); !errors.As(err, &ue) {
		t.Errorf("a plain path: %v, want a usage error", err)
	}
}

func TestOCIPlatform(t *testing.T) {
	env := map[string]string{}
	getenv := func(k string) string { return env[k] }
	o := ociFlags{archEnv: "PULL_ARCH"}
	if p, err := o.platform(getenv); p != nil || err != nil {
		t.Errorf("no --arch: %v %v", p, err)
	}
	o.arch, o.archVariant = "arm64", "v8"
	if p, err := o.platform(getenv); err != nil || p.String() != "linux/arm64/v8" {
		t.Errorf("--arch arm64 --arch-variant v8: %v %v", p, err)
	}
	o.arch = "sparc"
	var ue usageError
	if _, err := o.platform(getenv); !errors.As(err, &ue) {
		t.Errorf("--arch sparc: %v, want a usage error", err)
	}
	o.arch, o.archVariant = "", "v7"
	if _, err := o.platform(getenv); !errors.As(err, &ue) {
		t.Errorf("--arch-variant alone: %v, want a usage error", err)
	}
	o.archVariant = ""
	env["APPTAINER_PULL_ARCH"] = "s390x"
	if p, err := o.platform(getenv); err != nil || p.String() != "linux/s390x" {
		t.Errorf("APPTAINER_PULL_ARCH: %v %v", p, err)
	}
}
