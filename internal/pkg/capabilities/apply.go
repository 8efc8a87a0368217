package capabilities

import (
	"fmt"

	"github.com/moby/sys/capability"
)

// Apply sets the bounding, permitted, effective, inheritable and ambient
// capability sets of the calling thread to exactly caps, so that the
// program exec'ed next keeps precisely those, whether it runs as root or
// not (the ambient set carries them across exec for non-root users).
//
// Capabilities are per thread: call it on a goroutine locked to its OS
// thread (runtime.LockOSThread) immediately before exec on that thread.
// Names, and that the thread holds every one of them in its permitted set
// (root inside a restricted outer container may not), are checked before
// anything changes; intersect with Held first to ask for "as much as
// possible". Shrinking the bounding set needs CAP_SETPCAP; the result is
// checked afterwards because the capability library skips that step
// silently when it is missing.
func Apply(caps []string) error {
	want := make([]capability.Cap, 0, len(caps))
	for _, name := range caps {
		canon, ok := Normalize(name)
		if !ok {
			return fmt.Errorf("failed to apply capabilities: unknown capability %q", name)
		}
		want = append(want, capability.Cap(byName[canon]))
	}

	c, err := capability.NewPid2(0)
	if err != nil {
		return fmt.Errorf("failed to initialize capabilities: %w", err)
	}
	if err := c.Load(); err != nil {
		return fmt.Errorf("failed to read current capabilities: %w", err)
	}
	for _, w := range want {
		if !c.Get(capability.PERMITTED, w) {
			return fmt.Errorf("failed to apply capabilities: %s is not in the permitted set of this process", nameOf(w))
		}
	}
	all := capability.BOUNDING | capability.CAPS | capability.AMBIENT
	c.Clear(all)
	c.Set(all, want...)
	if err := c.Apply(all); err != nil {
		return fmt.Errorf("failed to apply capabilities %v: %w", caps, err)
	}
	return checkBounding(want)
}

// Held returns the permitted capability set of the calling thread: the
// most Apply can grant.
func Held() ([]string, error) {
	c, err := capability.NewPid2(0)
	if err != nil {
		return nil, fmt.Errorf("failed to initialize capabilities: %w", err)
	}
	if err := c.Load(); err != nil {
		return nil, fmt.Errorf("failed to read current capabilities: %w", err)
	}
	var held []string
	for n, name := range known {
		if name != "" && c.Get(capability.PERMITTED, capability.Cap(n)) {
			held = append(held, name)
		}
	}
	return held, nil
}

// checkBounding verifies that the calling thread's bounding set holds
// exactly want among the capabilities the kernel supports.
func checkBounding(want []capability.Cap) error {
	last, err := capability.LastCap()
	if err != nil {
		return fmt.Errorf("failed to find the last capability: %w", err)
	}
	keep := make(map[capability.Cap]bool, len(want))
	for _, c := range want {
		keep[c] = true
	}
	for c := capability.Cap(0); c <= last; c++ {
		held, err := capability.GetBound(c)
		if err != nil {
			return fmt.Errorf("failed to read bounding capability %d: %w", c, err)
		}
		if held && !keep[c] {
			return fmt.Errorf("failed to drop %s from the bounding set (CAP_SETPCAP missing?)", nameOf(c))
		}
	}
	return nil
}

func nameOf(c capability.Cap) string {
	return FromMask(1 << uint(c))[0]
}
