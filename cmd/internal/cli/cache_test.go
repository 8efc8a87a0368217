package cli

import (
	"bytes"
	"testing"
	"time"

	"github.com/apptainer/apptainer/internal/pkg/imgcache"
)

func TestPrintCacheList(t *testing.T) {
	mt := time.Date(2024, 5, 6, 7, 8, 9, 0, time.Local)
	entries := []imgcache.Entry{
		{Type: "oci-tmp", Name: "0123456789abcdef0123456789", Size: 2 << 20, Modified: mt},
		{Type: "blob", Name: "aa", Size: 1024, Modified: mt},
		{Type: "blob", Name: "bb", Size: 1024, Modified: mt},
	}
	var b bytes.Buffer
	printCacheList(&b, imgcache.Types, entries, false)
	want := "There are 1 container file(s) using 2.00 MiB and 2 oci blob file(s) using 2.00 KiB of space\nTotal space used: 2.00 MiB\n"
	if b.String() != want {
		t.Errorf("got %q, want %q", b.String(), want)
	}
	b.Reset()
	printCacheList(&b, []string{"blob"}, entries[1:], true)
	want = "NAME                     DATE CREATED           SIZE             TYPE\n" +
		"aa                       2024-05-06 07:08:09    1.00 KiB         blob\n" +
		"bb                       2024-05-06 07:08:09    1.00 KiB         blob\n\n" +
		"There are 2 oci blob file(s) using 2.00 KiB of space\nTotal space used: 2.00 KiB\n"
	if b.String() != want {
		t.Errorf("got %q, want %q", b.String(), want)
	}
}
