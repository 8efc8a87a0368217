package ociauth

import (
	"context"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

func TestChooseFile(t *testing.T) {
	home := t.TempDir()
	env := map[string]string{}
	getenv := func(k string) string { return env[k] }
	if got := ChooseFile("/x/auth.json", home, getenv); got != "/x/auth.json" {
		t.Errorf("requested: %s", got)
	}
	if got := ChooseFile("", home, getenv); got != filepath.Join(home, ".docker", "config.json") {
		t.Errorf("default: %s", got)
	}
	env["DOCKER_CONFIG"] = "/etc/dockercfg"
	if got := ChooseFile("", home, getenv); got != "/etc/dockercfg/config.json" {
		t.Errorf("DOCKER_CONFIG: %s", got)
	}
	own := filepath.Join(home, ".apptainer", "docker-config.json")
	if err := os.MkdirAll(filepath.Dir(own), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(own, []byte("{}"), 0o600); err != nil {
		t.Fatal(err)
	}
	if got := ChooseFile("", home, getenv); got != own {
		t.Errorf("apptainer's own file: %s", got)
	}
}

func TestRegistryOf(t *testing.T) {
	for in, want := range map[string]string{
		"docker://127.0.0.1:5000": "127.0.0.1:5000", "oras://ghcr.io": "ghcr.io", "registry.example.org/": "registry.example.org",
		"docker://h/x:1": "", "": "", "docker://": "", "library://x": "",
	} {
		got, err := RegistryOf(in)
		if want == "" {
			if err == nil {
				t.Errorf("RegistryOf(%q) = %q, want an error", in, got)
			}
			continue
		}
		if err != nil || got != want {
			t.Errorf("RegistryOf(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}

// basicAuth puts a registry behind HTTP basic authentication.
func basicAuth(user, pass string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, p, ok := r.BasicAuth()
		if !ok || u != user || p != pass {
			w.Header().Set("WWW-Authenticate", `Basic realm="test"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func TestLoginPullLogout(t *testing.T) {
	srv := httptest.NewServer(basicAuth("alice", "s3cret", registry.New(registry.Logger(log.New(io.Discard, "", 0)))))
	defer srv.Close()
	u, _ := url.Parse(srv.URL)
	host := u.Host
	tag, _ := name.NewTag(host + "/private/img:1")
	img, err := random.Image(512, 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(tag, img, remote.WithAuth(&authn.Basic{Username: "alice", Password: "s3cret"})); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "sub", "auth.json")
	kc := Keychain(file, true, func(msg string) { t.Log("warning: " + msg) })
	// Control: without credentials the image cannot be read.
	if _, err := remote.Image(tag, remote.WithAuthFromKeychain(kc)); err == nil {
		t.Fatal("control: the registry let an anonymous pull through")
	}

	ctx := context.Background()
	if err := Login(ctx, host, "alice", "wrong", false, file); err == nil {
		t.Fatal("a wrong password was accepted")
	}
	if _, err := os.Stat(file); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a failed login wrote %s: %v", file, err)
	}
	if err := Login(ctx, host, "alice", "s3cret", false, file); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(file)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("auth file: %v %v", fi, err)
	}
	if b, _ := os.ReadFile(file); !strings.Contains(string(b), host) {
		t.Errorf("the auth file does not name the registry:\n%s", b)
	}
	if _, err := remote.Image(tag, remote.WithAuthFromKeychain(kc)); err != nil {
		t.Fatalf("pull with the stored credentials: %v", err)
	}

	if err := Logout(host, file); err != nil {
		t.Fatal(err)
	}
	if _, err := remote.Image(tag, remote.WithAuthFromKeychain(kc)); err == nil {
		t.Error("the credentials are still used after logout")
	}
	if err := Logout(host, file); !errors.Is(err, ErrNotLoggedIn) {
		t.Errorf("second logout: %v, want ErrNotLoggedIn", err)
	}
}
