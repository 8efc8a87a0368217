package instance

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// FuzzReadFile feeds arbitrary bytes to the instance file parser, which reads
// files from users' home directories, possibly as root. Beyond not
// panicking, whatever it accepts must carry a usable name and survive a
// write/read cycle unchanged.
func FuzzReadFile(f *testing.F) {
	f.Add([]byte(`{"pid":10,"ppid":9,"name":"web","user":"root","image":"/i.sif","config":"e30=","userns":false,"cgroup":true,"ip":"","logErrPath":"/e","logOutPath":"/o","checkpoint":"","sharensMode":false}`))
	f.Add([]byte(`{"name":"x","boot":true,"maskedUnits":["a.service"],"state":"running","started":"2026-01-02T03:04:05+01:00"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := decode(data)
		if err != nil {
			return
		}
		if err := CheckName(got.Name); err != nil {
			t.Fatalf("accepted a file with invalid name: %v", err)
		}
		// Listings read the same file without its config: they must
		// accept it too and see the same instance.
		brief, err := decodeWithoutConfig(data)
		if err != nil {
			t.Fatalf("listing decoder refused a file the full one accepts: %v", err)
		}
		full := *got
		full.Config = nil
		if !reflect.DeepEqual(brief, &full) {
			t.Fatalf("listing decoder read %+v, full one %+v", brief, &full)
		}
		first, err := encode(got)
		if err != nil {
			t.Fatalf("accepted file cannot be written back: %v", err)
		}
		again, err := decode(first)
		if err != nil {
			t.Fatalf("written file cannot be read back: %v\n%s", err, first)
		}
		second, err := encode(again)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(first, second) {
			t.Fatalf("write/read cycle changed the file:\n%s\n%s", first, second)
		}
	})
}

// TestReadFileUsesParser ties ReadFile to the fuzzed parser and checks the
// size bound that protects it.
func TestReadFileUsesParser(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "x.json")
	if err := os.WriteFile(path, []byte(`{"name":"x","pid":3}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if f, err := ReadFile(path); err != nil || f.Name != "x" || f.Pid != 3 {
		t.Fatalf("ReadFile = %+v, %v", f, err)
	}
	for _, bad := range []string{`{"name":"../x"}`, `{"name":"x","ppid":-1}`, `{"name":"x"} trailing`, `[]`} {
		if err := os.WriteFile(path, []byte(bad), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := ReadFile(path); err == nil {
			t.Errorf("ReadFile accepted %s", bad)
		}
	}
	big := append([]byte(`{"name":"x","image":"`), bytes.Repeat([]byte("a"), maxFileSize)...)
	big = append(big, `"}`...)
	if err := os.WriteFile(path, big, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadFile(path); err == nil {
		t.Error("ReadFile accepted a file over the size bound")
	}
}
