package subid

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/moby/sys/user"
)

func TestPick(t *testing.T) {
	for _, tc := range []struct {
		name    string
		entries string
		want    Range
		err     error
	}{
		{"exact count", "alice:100000:65536\n", Range{100000, 65536}, nil},
		{"by uid", "1000:200000:65536\n", Range{200000, 65536}, nil},
		{"exact wins over larger", "alice:300000:131072\nalice:100000:65536\n", Range{100000, 65536}, nil},
		{"largest above minimum", "alice:300000:131072\nalice:500000:262144\n", Range{500000, 262144}, nil},
		{"other user only", "bob:100000:65536\n", Range{}, ErrNoEntry},
		{"too small", "alice:100000:1000\n", Range{}, ErrRangeTooLow},
		{"too small beside another user's", "alice:100000:1000\nbob:200000:65536\n", Range{}, ErrRangeTooLow},
		{"start 0 maps root: unusable", "alice:0:65536\n", Range{}, ErrRangeTooLow},
		{"past 32 bits: unusable", "alice:4294967000:65536\n", Range{}, ErrRangeTooLow},
		{"empty file", "", Range{}, ErrNoEntry},
	} {
		t.Run(tc.name, func(t *testing.T) {
			entries, err := user.ParseSubID(strings.NewReader(tc.entries))
			if err != nil {
				t.Fatal(err)
			}
			got, err := Pick(entries, "alice", 1000)
			if !errors.Is(err, tc.err) || got != tc.want {
				t.Errorf("Pick = %v, %v; want %v, %v", got, err, tc.want, tc.err)
			}
		})
	}
}

func TestLookupMessages(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "subuid")
	if _, err := Lookup(missing, "alice", 1000); !errors.Is(err, ErrNoEntry) || !strings.Contains(err.Error(), "no mapping entry found in "+missing+" for alice") {
		t.Errorf("missing file: %v", err)
	}
	small := filepath.Join(dir, "small")
	if err := os.WriteFile(small, []byte("alice:100000:10\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Lookup(small, "alice", 1000); !errors.Is(err, ErrRangeTooLow) || !strings.Contains(err.Error(), "range count lower than 65536") {
		t.Errorf("small range: %v", err)
	}
	good := filepath.Join(dir, "good")
	if err := os.WriteFile(good, []byte("bob:1:65536\nalice:100000:65536\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if r, err := Lookup(good, "alice", 1000); err != nil || r != (Range{100000, 65536}) {
		t.Errorf("good: %v %v", r, err)
	}
}
