package hostnet

// Kernel is the host state outside of the network that an instance
// without a user namespace can change, because its root is the host's
// root as far as these settings go: the kernel.*, vm.* and fs.* sysctls
// (through a procfs of its own, see docs/boot-hostnet.md) and the
// binfmt_misc handlers, which decide what runs a file on exec, for every
// process of the host. In a user namespace the kernel refuses all of
// these, and the guard does not record them (SnapshotOptions.Kernel).
type Kernel struct {
	// Sysctls maps every readable kernel.*, vm.* and fs.* sysctl, named
	// as sysctl(8) names it, to its value with runs of blanks folded to
	// one space, except the keys that change by themselves
	// (excludedKernelSysctls).
	Sysctls map[string]string `json:"sysctls"`
	// BinfmtMisc are the binfmt_misc handlers.
	BinfmtMisc BinfmtMisc `json:"binfmtMisc"`
}

// BinfmtMisc is the binfmt_misc state: whether it is enabled and its
// handlers.
type BinfmtMisc struct {
	// Status is "enabled" or "disabled".
	Status string `json:"status,omitempty"`
	// Entries maps each handler's name to its file, lines joined with
	// "; ": "enabled; interpreter /usr/bin/qemu-aarch64; flags: F; ...".
	Entries map[string]string `json:"entries"`
	// Unavailable says why nothing else is recorded.
	Unavailable string `json:"unavailable,omitempty"`
}

// kernel compares the kernel state; a baseline without it (an older one,
// or one taken in the user-namespace mode) is not compared.
func (d *differ) kernel(before, after *Kernel) {
	switch {
	case before == nil:
		return
	case after == nil:
		d.changed(KindSysctl, "kernel.*, vm.*, fs.*", "recorded", "yes", "no")
		return
	}
	d.sysctls(before.Sysctls, after.Sysctls, nil, nil)
	bb, ab := before.BinfmtMisc, after.BinfmtMisc
	d.changed(KindBinfmt, "", "unavailable", bb.Unavailable, ab.Unavailable)
	d.changed(KindBinfmt, "", "status", bb.Status, ab.Status)
	for _, name := range unionKeys(bb.Entries, ab.Entries) {
		old, hadOld := bb.Entries[name]
		cur, hasCur := ab.Entries[name]
		switch {
		case !hasCur:
			d.removed(KindBinfmt, name, old)
		case !hadOld:
			d.added(KindBinfmt, name, cur)
		default:
			d.changed(KindBinfmt, name, "", old, cur)
		}
	}
}
