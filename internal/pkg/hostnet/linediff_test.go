package hostnet

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

func TestDiffLines(t *testing.T) {
	tests := []struct {
		name   string
		before string
		after  string
		want   []string
	}{
		{"equal", "a b c", "a b c", nil},
		{"both empty", "", "", nil},
		{"added at end", "a b", "a b c", []string{"+c"}},
		{"removed in middle", "a b c", "a c", []string{"-b"}},
		{"replaced", "a b c", "a x c", []string{"-b", "+x"}},
		{"reordered", "a b c", "b a c", []string{"-a", "+a"}},
		{"all new", "", "a b", []string{"+a", "+b"}},
		{"all gone", "a b", "", []string{"-a", "-b"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := render(diffLines(strings.Fields(tt.before), strings.Fields(tt.after)))
			if !slices.Equal(got, tt.want) {
				t.Errorf("diffLines(%q, %q) = %q, want %q", tt.before, tt.after, got, tt.want)
			}
		})
	}
}

// Past the size limit the result is coarser but must still turn a into b.
func TestDiffLinesLarge(t *testing.T) {
	n := 2100 // n*n > maxLCSCells
	var a, b []string
	for i := range n {
		a = append(a, fmt.Sprint("a", i))
		b = append(b, fmt.Sprint("b", i))
	}
	a = append([]string{"head"}, append(a, "tail")...)
	b = append([]string{"head"}, append(b, "tail")...)
	edits := diffLines(a, b)
	var added, removed int
	for _, e := range edits {
		if e.Added {
			added++
		} else {
			removed++
		}
	}
	if added != n || removed != n {
		t.Errorf("diffLines(large): %d added, %d removed; want %d each", added, removed, n)
	}
}

func render(edits []lineEdit) []string {
	var out []string
	for _, e := range edits {
		sign := "-"
		if e.Added {
			sign = "+"
		}
		out = append(out, sign+e.Line)
	}
	return out
}
