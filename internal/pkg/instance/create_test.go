package instance

import (
	"errors"
	"os"
	"sync"
	"testing"
)

func TestCreateRefusesLiveAndReplacesGhost(t *testing.T) {
	p := testPaths(t)
	first := startMonitor(t, "web")
	if err := p.Create(&File{Name: "web", PPid: first.pid(), Pid: 1}); err != nil {
		t.Fatalf("first Create: %v", err)
	}
	second := startMonitor(t, "web")
	err := p.Create(&File{Name: "web", PPid: second.pid(), Pid: 2})
	if !errors.Is(err, ErrExists) || err.Error() != "instance web already exists" {
		t.Fatalf("Create over a live instance = %v, want %q", err, "instance web already exists")
	}
	if f, err := p.Get("web"); err != nil || f.Pid != 1 {
		t.Fatalf("the live instance was disturbed: %+v, %v", f, err)
	}

	// Upstream's GhostInstance scenario: once the monitor is killed, the
	// name can be used again without any cleanup.
	first.kill()
	if err := p.Create(&File{Name: "web", PPid: second.pid(), Pid: 2}); err != nil {
		t.Fatalf("Create over a ghost: %v", err)
	}
	if f, err := p.Get("web"); err != nil || f.Pid != 2 {
		t.Fatalf("Get after replacing the ghost = %+v, %v", f, err)
	}
}

func TestCreateOverLeftovers(t *testing.T) {
	p := testPaths(t)
	m := startMonitor(t, "web")
	// A directory whose start died before writing the file, with debris.
	if err := os.MkdirAll(p.Dir("web"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p.Dir("web")+"/.web.json.tmp-1", []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := p.Create(&File{Name: "web", PPid: m.pid()}); err != nil {
		t.Fatalf("Create over an empty directory: %v", err)
	}
	entries, err := os.ReadDir(p.Dir("web"))
	if err != nil || len(entries) != 1 {
		t.Errorf("instance directory holds %v (%v), want only web.json", entries, err)
	}
	assertMode(t, p.Dir("web"), os.ModeDir|0o700)
}

func TestCreateRejects(t *testing.T) {
	p := testPaths(t)
	if err := p.Create(&File{Name: ".."}); !errors.Is(err, ErrInvalidName) {
		t.Errorf("Create(..) = %v, want ErrInvalidName", err)
	}
	if err := p.Create(nil); err == nil {
		t.Error("Create(nil) succeeded")
	}
	// An unreadable existing file is reported, not overwritten.
	if err := os.MkdirAll(p.Dir("bad"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p.FilePath("bad"), []byte("not json"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := p.Create(&File{Name: "bad"}); err == nil || errors.Is(err, ErrExists) {
		t.Errorf("Create over a corrupt file = %v, want a read error", err)
	}
	if data, _ := os.ReadFile(p.FilePath("bad")); string(data) != "not json" {
		t.Errorf("corrupt file was overwritten with %q", data)
	}
}

// TestCreateRace starts the same name from several goroutines at once,
// over nothing and over a ghost; exactly one start may win each round. The
// ghost case needs the lock: without it two starts could each remove the
// ghost and then each create the directory.
func TestCreateRace(t *testing.T) {
	p := testPaths(t)
	m := startMonitor(t, "race")
	dead := deadPID(t)
	for round := range 40 {
		ghost := round%2 == 1
		if ghost {
			if err := p.Write(&File{Name: "race", PPid: dead, Pid: 1}); err != nil {
				t.Fatal(err)
			}
		}
		const racers = 4
		errs := make([]error, racers)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := range racers {
			wg.Go(func() {
				<-start
				errs[i] = p.Create(&File{Name: "race", PPid: m.pid(), Pid: 100 + i})
			})
		}
		close(start)
		wg.Wait()

		winner := -1
		for i, err := range errs {
			switch {
			case err == nil && winner >= 0:
				t.Fatalf("round %d (ghost=%v): racers %d and %d both won", round, ghost, winner, i)
			case err == nil:
				winner = i
			case !errors.Is(err, ErrExists):
				t.Fatalf("round %d: racer %d failed with %v, want ErrExists", round, i, err)
			}
		}
		if winner < 0 {
			t.Fatalf("round %d (ghost=%v): nobody won", round, ghost)
		}
		f, err := p.Get("race")
		if err != nil || f.Pid != 100+winner {
			t.Fatalf("round %d: stored %+v (%v), want the winner's pid %d", round, f, err, 100+winner)
		}
		if err := p.Delete("race"); err != nil {
			t.Fatal(err)
		}
	}
}
