package hostnet

import (
	"os"
	"os/exec"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
)

// BenchmarkTake measures what the guard's snapshots cost on a small fake
// host (lo, a veth pair with addresses, a rule, a route, a firewall rule):
// a full snapshot, as the baseline takes it; the time until TakeDeferred
// returns, which is what init waits for; a snapshot that reuses the
// firewall, as after READY and after stop; and a full snapshot with the
// kernel settings, as without a user namespace. The kernel part is the
// machine's: its size does not depend on the fake host.
func BenchmarkTake(b *testing.B) {
	if os.Getenv(throwawayEnv) == "" || os.Geteuid() != 0 {
		b.Skip("needs root, in the throwaway namespace TestMain makes")
	}
	for _, c := range []string{
		"ip link set lo up",
		"ip link add bib0 type veth peer name bibpeer",
		"ip link set bib0 mtu 2044 up",
		"ip link set bibpeer up",
		"ip addr add 10.211.0.2/24 dev bib0",
		"ip rule add from 10.211.0.0/24 lookup 100 pref 1000",
		"ip route add default via 10.211.0.1 dev bib0 table 100",
		"iptables -A INPUT -p tcp --dport 9 -j DROP",
	} {
		f := strings.Fields(c)
		if out, err := exec.Command(f[0], f[1:]...).CombinedOutput(); err != nil {
			b.Fatalf("%s: %v: %s", c, err, out)
		}
	}
	b.Cleanup(func() { _ = exec.Command("ip", "link", "del", "bib0").Run() })
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	base, err := Take(SnapshotOptions{})
	if err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct {
		name string
		opts SnapshotOptions
	}{
		{"full", SnapshotOptions{}},
		{"reuse-firewall", SnapshotOptions{PreviousNetfilter: &base.Netfilter}},
		{"full-kernel", SnapshotOptions{Kernel: true}},
		{"reuse-firewall-kernel", SnapshotOptions{PreviousNetfilter: &base.Netfilter, Kernel: true}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			cpu := cpuTime()
			for range b.N {
				if _, err := Take(bc.opts); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(cpuTime()-cpu)/float64(time.Millisecond)/float64(b.N), "cpu-ms/op")
		})
	}
	for _, kernel := range []bool{false, true} {
		name := "deferred-return"
		if kernel {
			name += "-kernel"
		}
		b.Run(name, func(b *testing.B) {
			for range b.N {
				b.StartTimer()
				_, finish, err := TakeDeferred(SnapshotOptions{Kernel: kernel})
				b.StopTimer()
				if err != nil {
					b.Fatal(err)
				}
				if err := finish(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// cpuTime is the user and system time of this process and of its waited-for
// children (nft, ip) so far.
func cpuTime() time.Duration {
	var total time.Duration
	for _, who := range []int{syscall.RUSAGE_SELF, syscall.RUSAGE_CHILDREN} {
		var ru syscall.Rusage
		if syscall.Getrusage(who, &ru) == nil {
			total += time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
		}
	}
	return total
}
