package instance

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
)

// Create records a new instance. It fails with an error wrapping ErrExists,
// "instance <name> already exists", if an instance of that name has a live
// monitor; the files of a dead one (a ghost) are removed first, so a name
// can be reused after its monitor was killed.
//
// Check and creation happen under a lock on the per-user directory, so of two
// concurrent starts of one name exactly one succeeds. f.PPid should already
// name the live monitor: a file whose monitor is not alive is a ghost to
// every other reader and may be purged at once.
func (p Paths) Create(f *File) error {
	if f == nil {
		return errors.New("failed to create instance: nil instance file")
	}
	if err := p.checkName(f.Name); err != nil {
		return err
	}
	d, err := p.openUserDir(true)
	if err != nil {
		return err
	}
	defer d.Close()
	unlock, err := d.lock()
	if err != nil {
		return err
	}
	defer unlock()

	if err := p.claimDir(d, f.Name); err != nil {
		return err
	}
	if err := p.writeFile(d, f); err != nil {
		_ = d.remove(f.Name)
		return err
	}
	return nil
}

// claimDir creates the directory of instance name, replacing a ghost's. The
// caller holds the per-user lock, so a directory without a file cannot be a
// concurrent Create halfway through: it is the remains of a start that died
// before writing its file.
func (p Paths) claimDir(d *userDir, name string) error {
	err := d.mkdir(name)
	if errors.Is(err, fs.ErrExist) {
		old, rerr := d.read(name, decode)
		switch {
		case rerr == nil && Alive(old):
			return fmt.Errorf("instance %s %w", name, ErrExists)
		case rerr == nil, errors.Is(rerr, fs.ErrNotExist):
			if rerr == nil && p.OnGhost != nil {
				p.OnGhost(old)
			}
			if err := d.remove(name); err != nil {
				return fmt.Errorf("failed to remove exited instance %q: %w", p.Dir(name), err)
			}
			err = d.mkdir(name)
		default:
			return fmt.Errorf("failed to check existing instance %q: %w", name, rerr)
		}
	}
	if err != nil {
		return fmt.Errorf("failed to create instance directory %q: %w", p.Dir(name), err)
	}
	return nil
}

// Write stores f as the file of instance f.Name, replacing any previous
// content atomically. It is how the owner of an instance updates it after
// Create; it neither checks for nor removes other instances.
func (p Paths) Write(f *File) error {
	if f == nil {
		return errors.New("failed to write instance: nil instance file")
	}
	if err := p.checkName(f.Name); err != nil {
		return err
	}
	d, err := p.openUserDir(true)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.mkdir(f.Name); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("failed to create instance directory %q: %w", p.Dir(f.Name), err)
	}
	return p.writeFile(d, f)
}

// writeFile encodes f into its instance directory, which must exist.
func (p Paths) writeFile(d *userDir, f *File) error {
	data, err := encode(f)
	if err != nil {
		return fmt.Errorf("failed to encode instance %q: %w", f.Name, err)
	}
	if err := d.write(f.Name, data, 0o644); err != nil {
		return fmt.Errorf("failed to write instance %q: %w", f.Name, err)
	}
	return nil
}

// Get returns instance name if its monitor is alive. A missing instance, and
// a ghost (whose files Get removes, as upstream does), give an error
// wrapping ErrNotFound: "no instance found with name <name>".
func (p Paths) Get(name string) (*File, error) {
	if err := p.checkName(name); err != nil {
		return nil, err
	}
	d, err := p.openUserDir(false)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w with name %s", ErrNotFound, name)
	}
	if err != nil {
		return nil, err
	}
	defer d.Close()
	f, err := d.read(name, decode)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w with name %s", ErrNotFound, name)
	}
	if err != nil {
		return nil, err
	}
	if !Alive(f) {
		if err := p.reap(d, []string{name}); err != nil {
			return nil, err
		}
		return nil, fmt.Errorf("%w with name %s", ErrNotFound, name)
	}
	return f, nil
}

// List returns the live instances whose names match glob (a filepath.Match
// pattern on names; "" means "*"), sorted by name, without their Config
// (Get has it). The files of ghosts are
// removed on the way, as upstream's listing does. No match is not an error.
//
// An instance file that cannot be read or parsed is neither skipped in
// silence nor deleted: List returns the instances it could read together
// with a *DamagedError that names every such file. One bad file (a disk
// error, a hand edit) must not keep an administrator from listing or
// stopping all the others.
func (p Paths) List(glob string) ([]*File, error) {
	if err := p.check(); err != nil {
		return nil, err
	}
	if glob == "" {
		glob = "*"
	}
	if _, err := filepath.Match(glob, ""); err != nil {
		return nil, fmt.Errorf("invalid instance name pattern %q: %w", glob, err)
	}
	if strings.Contains(glob, "/") {
		return nil, fmt.Errorf("invalid instance name pattern %q: names contain no slash", glob)
	}
	d, err := p.openUserDir(false)
	if errors.Is(err, fs.ErrNotExist) {
		return []*File{}, nil
	}
	if err != nil {
		return nil, err
	}
	defer d.Close()
	all, err := d.names()
	if err != nil {
		return nil, err
	}
	var names []string
	for _, name := range all {
		if ok, _ := filepath.Match(glob, name); ok {
			names = append(names, name)
		}
	}
	found := p.readAll(d, names)
	live := []*File{}
	var ghosts []string
	var damaged DamagedError
	for i, r := range found {
		if errors.Is(r.err, fs.ErrNotExist) {
			// Being created, or left by a start that died early;
			// Create deals with it.
			continue
		}
		if r.err != nil {
			damaged.Names = append(damaged.Names, names[i])
			damaged.Errs = append(damaged.Errs, r.err)
			continue
		}
		if r.alive {
			live = append(live, r.file)
		} else {
			ghosts = append(ghosts, names[i])
		}
	}
	if err := p.reap(d, ghosts); err != nil {
		return nil, err
	}
	if len(damaged.Errs) > 0 {
		return live, &damaged
	}
	return live, nil
}

// DamagedError names the instance files a listing could not use. It comes
// with the instances that could be read: a caller reports it and goes on
// with those.
type DamagedError struct {
	// Names are the instances whose files are damaged, in listing order.
	Names []string
	// Errs holds, for each of Names, why its file could not be used; the
	// message names the file.
	Errs []error
}

func (e *DamagedError) Error() string {
	return errors.Join(e.Errs...).Error()
}

func (e *DamagedError) Unwrap() []error { return e.Errs }

type listRead struct {
	file  *File
	alive bool
	err   error
}

// readAll reads the files of names for a listing and checks their
// monitors, on as many goroutines as there are CPUs: with a hundred
// instances, decoding and the liveness checks are most of a listing.
func (p Paths) readAll(d *userDir, names []string) []listRead {
	out := make([]listRead, len(names))
	workers := min(runtime.GOMAXPROCS(0), len(names))
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= len(names) {
					return
				}
				f, err := d.read(names[i], decodeWithoutConfig)
				out[i] = listRead{file: f, err: err, alive: err == nil && Alive(f)}
			}
		}()
	}
	wg.Wait()
	return out
}

// Delete removes the directory of instance name and everything in it. The
// logs are kept. Deleting an instance that is already gone is not an error,
// so a monitor's cleanup can run more than once.
func (p Paths) Delete(name string) error {
	if err := p.checkName(name); err != nil {
		return err
	}
	d, err := p.openUserDir(false)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer d.Close()
	unlock, err := d.lock()
	if err != nil {
		return err
	}
	defer unlock()
	if err := d.remove(name); err != nil {
		return fmt.Errorf("failed to delete instance %q: %w", name, err)
	}
	return nil
}

// reap removes the named ghosts. Under the lock each one is read again: a new
// instance may have taken the name since it was found dead.
func (p Paths) reap(d *userDir, names []string) error {
	if len(names) == 0 {
		return nil
	}
	unlock, err := d.lock()
	if err != nil {
		return err
	}
	defer unlock()
	for _, name := range names {
		f, err := d.read(name, decode)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return err
		}
		if Alive(f) {
			continue
		}
		if p.OnGhost != nil {
			p.OnGhost(f)
		}
		if err := d.remove(name); err != nil {
			return fmt.Errorf("failed to remove exited instance %q: %w", name, err)
		}
	}
	return nil
}
