package instance

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// sampleFile returns a file with every field set, monitored by ppid.
func sampleFile(name string, ppid int) *File {
	return &File{
		Pid: 4242, PPid: ppid, Name: name, User: "alice", Image: "/srv/images/" + name + ".sif",
		Config: []byte(`{"engineName":"apptainer"}`), UserNs: true, Cgroup: true, IP: "10.22.0.5",
		LogErrPath: "/logs/" + name + ".err", LogOutPath: "/logs/" + name + ".out", Checkpoint: "ckpt",
		Boot: true, BootHostnet: true, MaskedUnits: []string{"systemd-networkd.service"},
		State: StateRunning, FailedUnits: []string{"foo.service"}, Networks: []string{"bridge"},
		NetnsPath: "/run/netns/x", RunDir: "/run/apptainer/" + name, CgroupPaths: []string{"/sys/fs/cgroup/x"},
		ContainerUUID: "8d3c8f5e-0000-4000-8000-000000000000", HostnetGuard: "guard",
		Started: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
	}
}

func TestWriteGetListDelete(t *testing.T) {
	p := testPaths(t)
	m := startMonitor(t, "web")
	want := sampleFile("web", m.pid())
	if err := p.Write(want); err != nil {
		t.Fatalf("Write: %v", err)
	}
	got, err := p.Get("web")
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Get = %+v\nwant %+v", got, want)
	}
	list, err := p.List("")
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	// A listing leaves the engine config out; everything else is there.
	brief := *want
	brief.Config = nil
	if len(list) != 1 || !reflect.DeepEqual(list[0], &brief) {
		t.Errorf("List = %+v, want only %+v", list, &brief)
	}
	if err := p.Delete("web"); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if _, err := os.Lstat(p.Dir("web")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("instance directory survived Delete: %v", err)
	}
	if _, err := p.Get("web"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get after Delete = %v, want ErrNotFound", err)
	}
	if err := p.Delete("web"); err != nil {
		t.Errorf("second Delete = %v, want nil", err)
	}
	if err := p.Delete("../x"); !errors.Is(err, ErrInvalidName) {
		t.Errorf("Delete(../x) = %v, want ErrInvalidName", err)
	}
}

func TestWriteModesIgnoreUmask(t *testing.T) {
	old := syscall.Umask(0o077)
	t.Cleanup(func() { syscall.Umask(old) })
	p := testPaths(t)
	for _, create := range []bool{false, true} {
		name := fmt.Sprintf("modes-%v", create)
		write := p.Write
		if create {
			write = p.Create
		}
		if err := write(&File{Name: name}); err != nil {
			t.Fatalf("create=%v: %v", create, err)
		}
		assertMode(t, p.Dir(name), fs.ModeDir|0o700)
		assertMode(t, p.FilePath(name), 0o644)
		entries, err := os.ReadDir(p.Dir(name))
		if err != nil {
			t.Fatal(err)
		}
		if len(entries) != 1 || entries[0].Name() != name+".json" {
			t.Errorf("instance directory holds %v, want only %s.json", entries, name)
		}
	}
}

func assertMode(t *testing.T, path string, want fs.FileMode) {
	t.Helper()
	st, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode() != want {
		t.Errorf("mode of %s = %v, want %v", path, st.Mode(), want)
	}
}

func TestUpstreamFileFormat(t *testing.T) {
	p := testPaths(t)
	f := &File{Pid: 10, PPid: 9, Name: "web", User: "root", Image: "/i.sif", Config: []byte("{}"),
		Cgroup: true, LogErrPath: "/e", LogOutPath: "/o"}
	if err := p.Write(f); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(p.FilePath("web"))
	if err != nil {
		t.Fatal(err)
	}
	want := `{"pid":10,"ppid":9,"name":"web","user":"root","image":"/i.sif","config":"e30=",` +
		`"userns":false,"cgroup":true,"ip":"","logErrPath":"/e","logOutPath":"/o","checkpoint":"","sharensMode":false}`
	if string(data) != want {
		t.Errorf("instance file =\n%s\nwant\n%s", data, want)
	}

	f.Boot, f.State, f.Started = true, StateStarting, time.Date(2026, 5, 6, 7, 8, 9, 0, time.UTC)
	data, err = encode(f)
	if err != nil {
		t.Fatal(err)
	}
	wantTail := `"sharensMode":false,"boot":true,"state":"starting","started":"2026-05-06T07:08:09Z"}`
	if !strings.HasSuffix(string(data), wantTail) {
		t.Errorf("instance file = %s, want it to end with %s", data, wantTail)
	}
}

func TestWriteIsAtomic(t *testing.T) {
	p := testPaths(t)
	small := &File{Name: "web", PPid: 1}
	big := &File{Name: "web", PPid: 1, Config: []byte(strings.Repeat("x", 64<<10))}
	if err := p.Write(small); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	var readErr error
	var reads atomic.Int64
	var failed atomic.Bool
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case <-done:
				return
			default:
			}
			if _, err := ReadFile(p.FilePath("web")); err != nil {
				readErr = err
				failed.Store(true)
				return
			}
			reads.Add(1)
		}
	})
	// Write at least 100 times, and on until the reader has read often
	// enough to have met the writes: a reader that never got to run would
	// let any Write pass.
	deadline := time.Now().Add(30 * time.Second)
	for i := 0; i < 100 || (reads.Load() < 100 && !failed.Load()); i++ {
		f := small
		if i%2 == 0 {
			f = big
		}
		if err := p.Write(f); err != nil {
			t.Fatalf("Write #%d: %v", i, err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("the reader read %d times in 30 s of writes", reads.Load())
		}
	}
	close(done)
	wg.Wait()
	if readErr != nil {
		t.Errorf("a reader saw a partial file: %v", readErr)
	}
	entries, err := os.ReadDir(p.Dir("web"))
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		t.Errorf("temporary files left behind: %v", entries)
	}
}

func TestSymlinkedInstanceFile(t *testing.T) {
	p := testPaths(t)
	victim := filepath.Join(t.TempDir(), "victim")
	if err := os.WriteFile(victim, []byte(`{"name":"web"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(p.Dir("web"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(victim, p.FilePath("web")); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadFile(p.FilePath("web")); !errors.Is(err, syscall.ELOOP) {
		t.Errorf("ReadFile through a symlink = %v, want ELOOP", err)
	}
	if err := p.Write(&File{Name: "web", Pid: 7}); err != nil {
		t.Fatal(err)
	}
	if data, _ := os.ReadFile(victim); string(data) != `{"name":"web"}` {
		t.Errorf("Write went through the symlink; target now holds %s", data)
	}
	assertMode(t, p.FilePath("web"), 0o644)
}

func TestGetErrors(t *testing.T) {
	p := testPaths(t)
	_, err := p.Get("missing")
	if !errors.Is(err, ErrNotFound) || err.Error() != "no instance found with name missing" {
		t.Errorf("Get(missing) = %v, want ErrNotFound with upstream's message", err)
	}
	if _, err := p.Get("a/b"); !errors.Is(err, ErrInvalidName) {
		t.Errorf("Get(a/b) = %v, want ErrInvalidName", err)
	}

	if err := p.Write(&File{Name: "ghost", PPid: deadPID(t)}); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Get("ghost"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get(ghost) = %v, want ErrNotFound", err)
	}
	if _, err := os.Lstat(p.Dir("ghost")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Get left the ghost's directory: %v", err)
	}

	// A file under one name describing another is refused, not trusted.
	m := startMonitor(t, "b")
	if err := os.MkdirAll(p.Dir("a"), 0o700); err != nil {
		t.Fatal(err)
	}
	data, err := encode(&File{Name: "b", PPid: m.pid()})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p.FilePath("a"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Get("a"); err == nil || errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), `describes instance "b"`) {
		t.Errorf("Get(a) holding b's file = %v, want a mismatch error", err)
	}
}

func TestListDropsGhosts(t *testing.T) {
	p := testPaths(t)
	live := startMonitor(t, "live")
	files := map[string]int{
		"dead":     deadPID(t),  // monitor exited
		"imposter": os.Getpid(), // alive, but not a monitor
		"live":     live.pid(),
		"noppid":   0,
	}
	for name, ppid := range files {
		if err := p.Write(&File{Name: name, PPid: ppid}); err != nil {
			t.Fatal(err)
		}
	}
	// A directory without its file (a start in progress) is left alone.
	if err := os.Mkdir(p.Dir("starting"), 0o700); err != nil {
		t.Fatal(err)
	}

	list, err := p.List("*")
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0].Name != "live" {
		t.Fatalf("List = %v, want only live", names(list))
	}
	for _, name := range []string{"dead", "imposter", "noppid"} {
		if _, err := os.Lstat(p.Dir(name)); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("ghost %s not removed: %v", name, err)
		}
	}
	for _, name := range []string{"live", "starting"} {
		if _, err := os.Lstat(p.Dir(name)); err != nil {
			t.Errorf("%s removed: %v", name, err)
		}
	}
}

// A file that cannot be parsed (here: truncated to nothing, as a disk
// error or a crash can leave it) is reported by name and kept, and the
// other instances are still listed.
func TestListReportsDamagedFilesAndListsTheRest(t *testing.T) {
	p := testPaths(t)
	live := startMonitor(t, "live")
	for _, name := range []string{"live", "truncated", "renamed"} {
		if err := p.Write(&File{Name: name, PPid: live.pid()}); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(p.FilePath("truncated"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	// A file copied under another instance's name is not that instance.
	other, err := os.ReadFile(p.FilePath("live"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p.FilePath("renamed"), other, 0o644); err != nil {
		t.Fatal(err)
	}

	list, err := p.List("")
	var damaged *DamagedError
	if !errors.As(err, &damaged) {
		t.Fatalf("List() error = %v, want a *DamagedError", err)
	}
	if len(list) != 1 || list[0].Name != "live" {
		t.Errorf("List() = %v, want the readable instance listed", names(list))
	}
	if !slices.Equal(damaged.Names, []string{"renamed", "truncated"}) || len(damaged.Errs) != 2 {
		t.Fatalf("damaged = %v (%d errors), want renamed and truncated", damaged.Names, len(damaged.Errs))
	}
	for i, name := range damaged.Names {
		if !strings.Contains(damaged.Errs[i].Error(), p.FilePath(name)) {
			t.Errorf("error for %s does not name its file: %v", name, damaged.Errs[i])
		}
		if _, err := os.Stat(p.FilePath(name)); err != nil {
			t.Errorf("damaged file of %s was removed: %v", name, err)
		}
	}
}

func TestListGlobAndOrder(t *testing.T) {
	p := testPaths(t)
	if list, err := p.List(""); err != nil || list == nil || len(list) != 0 {
		t.Fatalf("List with no directory = %v, %v; want an empty list", list, err)
	}
	m := startMonitor(t, "any")
	for _, name := range []string{"web2", "db", "web1", "cache"} {
		if err := p.Write(&File{Name: name, PPid: m.pid()}); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		glob string
		want []string
	}{
		{"", []string{"cache", "db", "web1", "web2"}},
		{"*", []string{"cache", "db", "web1", "web2"}},
		{"web*", []string{"web1", "web2"}},
		{"db", []string{"db"}},
		{"w?b[2]", []string{"web2"}},
		{"none", nil},
	}
	for _, tt := range tests {
		list, err := p.List(tt.glob)
		if err != nil {
			t.Errorf("List(%q): %v", tt.glob, err)
			continue
		}
		if got := names(list); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("List(%q) = %v, want %v", tt.glob, got, tt.want)
		}
	}
	for _, bad := range []string{"[", "web/*", "../*"} {
		if _, err := p.List(bad); err == nil {
			t.Errorf("List(%q) accepted a bad pattern", bad)
		}
	}
}

func names(files []*File) []string {
	var out []string
	for _, f := range files {
		out = append(out, f.Name)
	}
	return out
}

// TestReapStaysInTheDirectoryItRead swaps the user directory for a symbolic
// link to another directory between the moment a ghost's file is read and
// the moment its directory is removed (the OnGhost hook runs in between),
// as a user could under root's `instance list -u`. The removal must hit the
// ghost that was read, not the directory of that name the link points to.
// The positive control removes through the path, as the store did before
// it pinned the directory, and shows that the swap redirects it.
func TestReapStaysInTheDirectoryItRead(t *testing.T) {
	for _, pinned := range []bool{true, false} {
		t.Run(fmt.Sprintf("pinned=%v", pinned), func(t *testing.T) {
			p := testPaths(t)
			if err := p.Write(&File{Name: "victim", PPid: deadPID(t)}); err != nil {
				t.Fatal(err)
			}
			outside := t.TempDir()
			precious := filepath.Join(outside, "victim", "keep")
			if err := os.MkdirAll(precious, 0o755); err != nil {
				t.Fatal(err)
			}
			userDir := filepath.Dir(p.Dir("victim"))
			swapped := false
			p.OnGhost = func(*File) {
				if err := os.Rename(userDir, userDir+".moved"); err != nil {
					t.Fatal(err)
				}
				if err := os.Symlink(outside, userDir); err != nil {
					t.Fatal(err)
				}
				swapped = true
				if !pinned {
					// What the store did before: remove by path.
					_ = os.RemoveAll(p.Dir("victim"))
				}
			}
			if _, err := p.List(""); err != nil {
				t.Fatalf("List: %v", err)
			}
			if !swapped {
				t.Fatal("the ghost was never found: the swap did not happen")
			}
			_, err := os.Stat(precious)
			if pinned {
				if err != nil {
					t.Errorf("the directory the link points to lost %s: %v", precious, err)
				}
				if _, err := os.Stat(filepath.Join(userDir+".moved", "victim")); !errors.Is(err, fs.ErrNotExist) {
					t.Errorf("the ghost that was read is still there: %v", err)
				}
			} else if !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("control: removing by path after the swap left %s (%v); the test cannot tell pinned from unpinned", precious, err)
			}
		})
	}
}
