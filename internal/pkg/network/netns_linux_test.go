package network

import (
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

func TestCheckNetnsPath(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	fifo := filepath.Join(dir, "fifo")
	if err := unix.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing")

	tests := []struct {
		path    string
		wantErr string
	}{
		{path: "/proc/self/ns/net"},
		{path: "/proc/self/ns/mnt", wantErr: "/proc/self/ns/mnt is not a network namespace"},
		{path: "/proc/self/ns/uts", wantErr: "/proc/self/ns/uts is not a network namespace"},
		{path: file, wantErr: file + " is not a network namespace"},
		{path: dir, wantErr: dir + " is not a network namespace"},
		{path: fifo, wantErr: fifo + " is not a network namespace"}, // must not block on open
		{path: "/dev/null", wantErr: "/dev/null is not a network namespace"},
		{path: missing, wantErr: "while checking netns path: stat " + missing + ": no such file or directory"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			err := CheckNetnsPath(tt.path)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("CheckNetnsPath() unexpected error: %v", err)
				}
				return
			}
			if err == nil || err.Error() != tt.wantErr {
				t.Fatalf("CheckNetnsPath() error = %v, want %q", err, tt.wantErr)
			}
		})
	}
}
