package hostnet

import (
	"errors"
	"fmt"
	"os"
	"runtime"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Take records the network state of the calling thread's network
// namespace. Netlink sockets, /proc/thread-self and the firewall tools all
// follow the thread, not the process, so a caller that entered a namespace
// with setns must have locked its OS thread first (TakeInNetns does it).
func Take(opts SnapshotOptions) (*Snapshot, error) {
	s, _, err := takeSnapshot(opts, false) // records the firewall before it returns
	return s, err
}

// TakeDeferred is Take for a caller that must not wait for the firewall
// tool (the slowest part, an exec): it returns as soon as everything else
// is recorded, with finish, which completes s.Netfilter; s.Netfilter must
// not be read before finish returns. The firewall part still describes
// the moment TakeDeferred returned: nf_tables's generation is read then,
// and finish checks that nft saw the same generation, or records that the
// ruleset changed meanwhile, which a comparison reports as a change. Where
// that cannot be checked (no nft, no nf_tables), the firewall is recorded
// before TakeDeferred returns, as Take does.
func TakeDeferred(opts SnapshotOptions) (s *Snapshot, finish func() error, err error) {
	return takeSnapshot(opts, true)
}

func takeSnapshot(opts SnapshotOptions, deferFirewall bool) (*Snapshot, func() error, error) {
	ns, err := os.Readlink(threadNetns)
	if err != nil {
		return nil, nil, fmt.Errorf("failed to identify the network namespace: %w", err)
	}
	s := &Snapshot{Netns: ns}
	gen, genErr := nftGeneration()
	if genErr != nil {
		gen = 0
	}
	nf := recordNetfilter(s, opts, gen)
	finish := func() error { return nf.finish(s) }
	// The sysctls (hundreds of files), the socket and multicast tables,
	// the ip tool (an exec) and the kernel settings are read on threads of
	// their own while netlink answers here: a snapshot is what init waits
	// for at start and `instance stop` at the end.
	background := recordInBackground(s, opts)
	err = collectNetlink(s)
	s.Sysfs = readMount(mountinfoPath, sysfsPath)
	if opts.ResolvConf != "" {
		s.ResolvConf = readResolvConf(opts.ResolvConf)
	}
	for _, done := range background {
		if derr := <-done; err == nil {
			err = derr
		}
	}
	if err != nil {
		<-nf.done // no goroutine writes s after we return
		return nil, nil, err
	}
	if deferFirewall && gen != 0 && lookTool("nft") != "" && opts.SkipFirewall == "" {
		return s, finish, nil
	}
	if err := finish(); err != nil {
		return nil, nil, err
	}
	return s, func() error { return nil }, nil
}

// netfilterRecording is the firewall being recorded into a snapshot.
type netfilterRecording struct {
	done <-chan error
	// gen is nf_tables's generation at the snapshot's moment (0: not
	// known). moved is set to a generation other than gen that nft may
	// have printed: a change committed after the snapshot's moment, before
	// or while nft ran. The printed ruleset is then not the one of that
	// moment, and finish says so instead of recording it.
	gen, moved uint32
}

// recordNetfilter records the firewall into s: the previous snapshot's
// when the generation says it has not changed, else with the firewall
// tools, the slowest part (an exec each), on a thread of its own in this
// thread's network namespace while the rest is recorded.
func recordNetfilter(s *Snapshot, opts SnapshotOptions, gen uint32) *netfilterRecording {
	r := &netfilterRecording{gen: gen}
	if opts.SkipFirewall != "" || opts.PreviousNetfilter.reusableAt(gen) {
		if opts.SkipFirewall != "" {
			s.Netfilter = Netfilter{Unavailable: opts.SkipFirewall}
		} else {
			s.Netfilter = *opts.PreviousNetfilter
		}
		done := make(chan error, 1)
		done <- nil
		r.done = done
		return r
	}
	r.done = goInThisNetns(func() (err error) {
		before, _ := nftGeneration()
		s.Netfilter, err = collectNetfilter(lookTool)
		after, _ := nftGeneration()
		if err != nil || !s.Netfilter.fromNft() {
			return err
		}
		switch {
		case gen != 0 && before != gen:
			r.moved = before
		case gen != 0 && after != gen:
			r.moved = after
		case before != 0 && before == after:
			s.Netfilter.Generation = before
		}
		return nil
	})
	return r
}

// finish waits for the firewall and, if it moved meanwhile, records that
// instead of a ruleset of another moment.
func (r *netfilterRecording) finish(s *Snapshot) error {
	if err := <-r.done; err != nil {
		return err
	}
	if r.moved != 0 {
		s.Netfilter = Netfilter{Unavailable: fmt.Sprintf("the firewall changed while it was being recorded (nf_tables generation %d, then %d)", r.gen, r.moved)}
	}
	return nil
}

// recordInBackground starts reading the sysctls, the socket and multicast
// tables, the ip tool's objects and (with opts.Kernel) the kernel settings
// into s, each on a thread of its own; each channel gives one error.
func recordInBackground(s *Snapshot, opts SnapshotOptions) []<-chan error {
	sysctlsDone := goInThisNetns(func() (err error) {
		s.Sysctls, err = readSysctls(procSysNet)
		return err
	})
	listenersDone := goInThisNetns(func() (err error) {
		if s.Listeners, err = collectListeners(procNetDir, opts.ListenerFilter); err != nil {
			return err
		}
		s.Multicast, err = collectMulticast(procNetDir)
		return err
	})
	ipDone := goInThisNetns(func() (err error) {
		s.AddrLabels, s.Nexthops, err = collectIPObjects(lookTool)
		return err
	})
	kernelDone := make(chan error, 1)
	if opts.Kernel {
		go func() {
			var err error
			s.Kernel, err = collectKernel()
			kernelDone <- err
		}()
	} else {
		kernelDone <- nil
	}
	return []<-chan error{sysctlsDone, listenersDone, ipDone, kernelDone}
}

// collectNetlink records what netlink answers: links and addresses,
// routes, rules, neighbours and xfrm, stopping at the first error.
func collectNetlink(s *Snapshot) error {
	var names map[int]string
	var err error
	if s.Links, s.Addresses, names, err = collectLinks(); err != nil {
		return err
	}
	if s.Routes, err = collectRoutes(names); err != nil {
		return err
	}
	if s.Rules, err = collectRules(); err != nil {
		return err
	}
	if s.Neighbours, err = collectNeighbours(s.Links, s.Routes); err != nil {
		return err
	}
	s.XfrmPolicies, s.XfrmStates, err = collectXfrm()
	return err
}

// threadNetns names the calling thread's network namespace.
const threadNetns = "/proc/thread-self/ns/net"

func readResolvConf(path string) *ResolvConf {
	rc := &ResolvConf{Path: path}
	b, err := os.ReadFile(path)
	if err != nil {
		rc.Error = err.Error()
		return rc
	}
	rc.Content = string(b)
	return rc
}

// retryDump repeats a netlink dump that the kernel interrupted because the
// table changed under it; the partial result of such a dump is not used.
func retryDump[T any](dump func() ([]T, error)) ([]T, error) {
	const attempts = 5
	var err error
	for range attempts {
		var res []T
		res, err = dump()
		if !errors.Is(err, netlink.ErrDumpInterrupted) {
			return res, err
		}
	}
	return nil, fmt.Errorf("dump interrupted %d times: %w", attempts, err)
}

// goInThisNetns runs fn on another OS thread that first joins the calling
// thread's network namespace (netlink, /proc/sys/net and the firewall
// tools all follow the thread) and goes back afterwards. A thread that
// cannot go back stays locked, so Go retires it rather than reuse it in the
// wrong namespace. The channel yields fn's error, or the failure to enter.
func goInThisNetns(fn func() error) <-chan error {
	out := make(chan error, 1)
	fd, err := unix.Open(threadNetns, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		out <- fmt.Errorf("failed to open the network namespace: %w", err)
		return out
	}
	go func() {
		defer unix.Close(fd)
		runtime.LockOSThread()
		orig, err := unix.Open(threadNetns, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			runtime.UnlockOSThread()
			out <- fmt.Errorf("failed to open the network namespace: %w", err)
			return
		}
		defer unix.Close(orig)
		if sameFile(fd, orig) {
			// Already there, as threads usually are: no setns, which
			// would need CAP_SYS_ADMIN even to stay put.
			runtime.UnlockOSThread()
			out <- fn()
			return
		}
		if err := unix.Setns(fd, unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			out <- fmt.Errorf("failed to enter the network namespace: %w", err)
			return
		}
		err = fn()
		if unix.Setns(orig, unix.CLONE_NEWNET) == nil {
			runtime.UnlockOSThread()
		}
		out <- err
	}()
	return out
}

// sameFile reports whether two descriptors name the same file (here: the
// same namespace).
func sameFile(a, b int) bool {
	var sa, sb unix.Stat_t
	return unix.Fstat(a, &sa) == nil && unix.Fstat(b, &sb) == nil && sa.Dev == sb.Dev && sa.Ino == sb.Ino
}
