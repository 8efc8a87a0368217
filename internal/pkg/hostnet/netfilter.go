package hostnet

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"time"
)

// Netfilter is the firewall ruleset, as printed by the host's own tools.
// Recording their text rather than decoding nf_tables messages keeps the
// snapshot readable in a diff and works for both nft and iptables hosts.
type Netfilter struct {
	// Rulesets holds one entry per tool run, in a fixed order.
	Rulesets []Ruleset `json:"rulesets"`
	// Unavailable says why nothing was recorded, when no tool was found
	// or the ruleset changed while it was being recorded.
	Unavailable string `json:"unavailable,omitempty"`
	// Generation is the nf_tables generation the nft ruleset was recorded
	// at; 0 when unknown (no nft, or a change while recording). The kernel
	// bumps it with every committed change, so a later snapshot that finds
	// the same generation can reuse the ruleset instead of running nft.
	Generation uint32 `json:"generation,omitempty"`
}

// fromNft reports whether nf was recorded with nft.
func (nf *Netfilter) fromNft() bool {
	return len(nf.Rulesets) == 1 && nf.Rulesets[0].Tool == "nft"
}

// reusableAt reports whether nf is the nft ruleset of generation gen.
func (nf *Netfilter) reusableAt(gen uint32) bool {
	return nf != nil && gen != 0 && nf.Generation == gen && nf.fromNft()
}

// Ruleset is the normalised output of one tool. Every line carries its
// context (the nft table and chain, or the iptables table) so that a line
// added or removed is understandable on its own, and nothing in it changes
// with traffic: no counters, no dates, no timeouts counting down.
type Ruleset struct {
	Tool  string   `json:"tool"`
	Lines []string `json:"lines"`
}

// toolTimeout bounds one run of nft or iptables-save. A host with a huge
// ruleset prints it in well under a second; a hang must not hang the start.
const toolTimeout = 30 * time.Second

// sbinDirs are searched after $PATH: a runtime's environment does not always
// have the sbin directories where the firewall tools live.
var sbinDirs = []string{"/usr/sbin", "/sbin", "/usr/bin", "/bin"}

// lookTool finds an executable by name in $PATH or sbinDirs, or returns "".
func lookTool(name string) string {
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	for _, d := range sbinDirs {
		p := filepath.Join(d, name)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p
		}
	}
	return ""
}

// collectNetfilter records the ruleset with nft when it exists (it shows
// nf_tables, which iptables-nft also writes to), otherwise with
// iptables-save and ip6tables-save. With none of them the snapshot says so
// and the firewall is simply not compared. look finds a tool (lookTool).
func collectNetfilter(look func(string) string) (Netfilter, error) {
	if nft := look("nft"); nft != "" {
		out, err := runTool(nft, "--stateless", "list", "ruleset")
		if err != nil {
			return Netfilter{}, err
		}
		return Netfilter{Rulesets: []Ruleset{{Tool: "nft", Lines: nftLines(out)}}}, nil
	}
	nf := Netfilter{Rulesets: []Ruleset{}}
	for _, tool := range []string{"iptables-save", "ip6tables-save"} {
		path := look(tool)
		if path == "" {
			continue
		}
		out, err := runTool(path)
		if err != nil {
			return Netfilter{}, err
		}
		nf.Rulesets = append(nf.Rulesets, Ruleset{Tool: tool, Lines: iptablesSaveLines(out)})
	}
	if len(nf.Rulesets) == 0 {
		nf.Unavailable = "neither nft nor iptables-save was found"
	}
	return nf, nil
}

// runTool runs a firewall tool and returns its standard output. The tools
// are run from the calling thread, so they see its network namespace.
func runTool(path string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), toolTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		cmdline := strings.Join(append([]string{path}, args...), " ")
		return "", fmt.Errorf("failed to run %q: %w: %s", cmdline, err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}

// nftExpires matches the time left on a dynamic set element, which counts
// down by itself.
var nftExpires = regexp.MustCompile(` expires [0-9a-z.]+`)

// nftLines flattens "nft list ruleset" output: a line opening a block
// ("table inet filter {", "chain input {") is recorded as the block's path,
// and every other line is prefixed with the path it sits in:
// "table inet filter > chain input: tcp dport 22 accept".
func nftLines(out string) []string {
	lines := []string{}
	var path []string
	for _, raw := range strings.Split(out, "\n") {
		l := strings.TrimSpace(nftExpires.ReplaceAllString(raw, ""))
		switch {
		case l == "":
		case l == "}":
			if len(path) > 0 {
				path = path[:len(path)-1]
			}
		case strings.HasSuffix(l, "{"):
			path = append(path, strings.TrimSpace(strings.TrimSuffix(l, "{")))
			lines = append(lines, strings.Join(path, " > "))
		default:
			lines = append(lines, strings.Join(path, " > ")+": "+l)
		}
	}
	return lines
}

// chainCounters matches the packet and byte counters of an iptables-save
// chain line (":INPUT ACCEPT [12:3456]") or of a rule saved with -c.
var chainCounters = regexp.MustCompile(`\s*\[\d+:\d+\]\s*`)

// iptablesSaveLines normalises iptables-save output: comment lines (which
// carry the date) and COMMIT are dropped, counters are removed, and each
// chain or rule line is prefixed with its table: "filter: -A INPUT -j DROP".
func iptablesSaveLines(out string) []string {
	lines := []string{}
	table := ""
	for _, raw := range strings.Split(out, "\n") {
		l := strings.TrimSpace(raw)
		switch {
		case l == "", strings.HasPrefix(l, "#"), l == "COMMIT":
		case strings.HasPrefix(l, "*"):
			table = l[1:]
		default:
			l = strings.TrimSpace(chainCounters.ReplaceAllString(l, " "))
			lines = append(lines, table+": "+l)
		}
	}
	return lines
}
