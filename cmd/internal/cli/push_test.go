package cli

import (
	"errors"
	"strings"
	"testing"

	"github.com/apptainer/apptainer/internal/pkg/image"
	"github.com/apptainer/apptainer/internal/pkg/oras"
)

func TestPushTarget(t *testing.T) {
	var ue usageError
	cases := []struct {
		dest  string
		check func(error) bool
	}{
		{"oras://127.0.0.1:5000/x:1", func(err error) bool { return err == nil }},
		{"library://user/c/x:1", func(err error) bool { return errors.Is(err, image.ErrTransport) }},
		{"docker://127.0.0.1:5000/x:1", func(err error) bool {
			return err != nil && err.Error() == "Unsupported transport type: docker"
		}},
		{"x.sif", func(err error) bool { return errors.As(err, &ue) && strings.Contains(err.Error(), "bad uri") }},
		{"://x", func(err error) bool { return errors.As(err, &ue) }},
	}
	for _, c := range cases {
		if err := pushTarget(c.dest); !c.check(err) {
			t.Errorf("pushTarget(%q) = %v", c.dest, err)
		}
	}
}

func TestPushAnnotations(t *testing.T) {
	got := pushAnnotations([]string{"a=1", "b=x=y", "novalue", "c="}, "my image", true)
	want := map[string]string{"a": "1", "b": "x=y", "c": "", oras.AnnotationDescription: "my image"}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
	if got := pushAnnotations(nil, "", false); len(got) != 0 {
		t.Errorf("no flags: %v", got)
	}
}

// TestPushFlags: upstream's push flags, and only those of them that
// reach a registry.
func TestPushFlags(t *testing.T) {
	cmd := newPushCommand()
	for _, f := range []string{"authfile", "docker-username", "docker-password", "no-https", "nohttps", "description", "annotation", "allow-unsigned", "library"} {
		if cmd.Flags().Lookup(f) == nil {
			t.Errorf("push has no --%s", f)
		}
	}
	for _, f := range []string{"disable-cache", "docker-login", "arch"} {
		if cmd.Flags().Lookup(f) != nil {
			t.Errorf("push has --%s, which upstream's has not", f)
		}
	}
}
