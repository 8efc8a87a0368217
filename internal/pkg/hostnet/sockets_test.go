package hostnet

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// Tables as the kernel prints them (x86-64, little-endian), trimmed.
const (
	tcpTable = `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 3500007F:0035 00000000:0000 0A 00000000:00000000 00:00000000 00000000   101        0 1045 1 0000000000000000 100 0 0 10 0
   1: 0100007F:1F90 0100007F:C350 01 00000000:00000000 00:00000000 00000000     0        0 2046 1 0000000000000000 20 4 30 10 -1
   2: 00000000:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 3047 1 0000000000000000 100 0 0 10 0
`
	tcp6Table = `  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000000000000:14EB 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000   101        0 4048 1 0000000000000000 100 0 0 10 0
   1: 00000000000000000000000001000000:0016 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4049 1 0000000000000000 100 0 0 10 0
`
	udpTable = `   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops
  100: 3500007F:0035 00000000:0000 07 00000000:00000000 00:00000000 00000000   101        0 5050 2 0000000000000000 0
  101: 0100007F:A000 0100007F:0035 01 00000000:00000000 00:00000000 00000000     0        0 5051 2 0000000000000000 0
`
)

func TestParseSocketTable(t *testing.T) {
	tests := []struct {
		proto, table string
		want         []string
	}{
		{"tcp", tcpTable, []string{"tcp 127.0.0.53:53 inode 1045", "tcp 0.0.0.0:22 inode 3047"}},
		{"tcp6", tcp6Table, []string{"tcp6 [::]:5355 inode 4048", "tcp6 [::1]:22 inode 4049"}},
		{"udp", udpTable, []string{"udp 127.0.0.53:53 inode 5050"}},
	}
	for _, tt := range tests {
		ls, err := parseSocketTable(strings.NewReader(tt.table), tt.proto)
		if err != nil {
			t.Fatalf("parseSocketTable(%s) error: %v", tt.proto, err)
		}
		var got []string
		for _, l := range ls {
			got = append(got, l.String())
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("parseSocketTable(%s) = %q, want %q", tt.proto, got, tt.want)
		}
	}
}

func TestParseSocketTableErrors(t *testing.T) {
	for _, line := range []string{
		"   0: 3500007Z:0035 00000000:0000 0A 0:0 00:0 0 0 0 1045",
		"   0: 3500007F 00000000:0000 0A 0:0 00:0 0 0 0 1045",
		"   0: 3500007F:XYZ 00000000:0000 0A 0:0 00:0 0 0 0 1045",
		"   0: 3500007F:0035 00000000:0000 0A 0:0 00:0 0 0 0 abc",
	} {
		if _, err := parseSocketTable(strings.NewReader("header\n"+line+"\n"), "tcp"); err == nil {
			t.Errorf("parseSocketTable(%q): want an error", line)
		}
	}
}

func TestCollectListeners(t *testing.T) {
	dir := t.TempDir()
	for name, content := range map[string]string{"tcp": tcpTable, "udp": udpTable} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// tcp6 and udp6 are missing, as on a host with IPv6 disabled.
	all, err := collectListeners(dir, nil)
	if err != nil {
		t.Fatalf("collectListeners() error: %v", err)
	}
	if len(all) != 3 {
		t.Errorf("collectListeners() = %v, want 3 listeners", all)
	}
	keep := func(inode uint64) bool { return inode == 5050 }
	some, err := collectListeners(dir, keep)
	if err != nil {
		t.Fatalf("collectListeners() error: %v", err)
	}
	if want := []Listener{{Proto: "udp", Addr: "127.0.0.53", Port: 53, Inode: 5050}}; !slices.Equal(some, want) {
		t.Errorf("collectListeners(filter) = %v, want %v", some, want)
	}
}
