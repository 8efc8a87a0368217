package apptainerconf

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func writeConf(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "apptainer.conf")
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: the file must be owned by uid 0, or chowned away from it")
	}
}

func TestLoadRootOwned(t *testing.T) {
	requireRoot(t)
	path := writeConf(t, "allow setuid = no\nwhat is this = 1\n")
	f, warnings, err := Load(path)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if f.AllowSetuid {
		t.Error("allow setuid = no was not applied")
	}
	want := []Warning{{File: path, Line: 2, Msg: `unknown directive "what is this" ignored`}}
	if !reflect.DeepEqual(warnings, want) {
		t.Errorf("warnings %#v, want %#v", warnings, want)
	}
}

func TestLoadParseErrorNamesPath(t *testing.T) {
	requireRoot(t)
	path := writeConf(t, "\nmount dev = sometimes\n")
	_, _, err := Load(path)
	var pe *ParseError
	if !errors.As(err, &pe) || pe.File != path || pe.Line != 2 {
		t.Fatalf("got %v, want a *ParseError at %s:2", err, path)
	}
}

func TestLoadRefusesNonRootOwner(t *testing.T) {
	requireRoot(t)
	path := writeConf(t, "allow setuid = yes\n")
	if err := os.Chown(path, 65534, 65534); err != nil {
		t.Fatalf("chown: %v", err)
	}
	_, _, err := Load(path)
	if err == nil || err.Error() != path+" must be owned by root" {
		t.Fatalf("got %v, want %q", err, path+" must be owned by root")
	}
}

func TestCheckOwner(t *testing.T) {
	requireRoot(t)
	path := writeConf(t, "")
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := CheckOwner(path, fi); err != nil {
		t.Errorf("root-owned file refused: %v", err)
	}
	if err := os.Chown(path, 65534, 0); err != nil {
		t.Fatalf("chown: %v", err)
	}
	if fi, err = os.Stat(path); err != nil {
		t.Fatal(err)
	}
	if err := CheckOwner(path, fi); err == nil || err.Error() != path+" must be owned by root" {
		t.Errorf("file owned by 65534: got %v", err)
	}
	if err := CheckOwner(path, nil); err == nil {
		t.Error("nil FileInfo accepted")
	}
	if err := CheckOwner(path, fakeInfo{fi}); err == nil {
		t.Error("FileInfo without an owner accepted")
	}
}

// fakeInfo hides the stat data, as a FileInfo from a non-OS fs.FS would.
type fakeInfo struct{ os.FileInfo }

func (fakeInfo) Sys() any { return nil }

func TestLoadMissingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nope.conf")
	f, _, err := Load(path)
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("got %v, want an error wrapping fs.ErrNotExist", err)
	}
	if f != nil {
		t.Error("Load returned a File with the error")
	}
	if want := `failed to open configuration file "` + path + `"`; !strings.HasPrefix(err.Error(), want) {
		t.Errorf("error %q does not start with %q", err, want)
	}
}

func TestLoadDirectory(t *testing.T) {
	dir := t.TempDir()
	if _, _, err := Load(dir); err == nil {
		t.Fatal("a directory was loaded as a configuration file")
	}
}
