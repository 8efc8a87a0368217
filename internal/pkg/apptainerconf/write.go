package apptainerconf

import (
	"fmt"
	"io"
	"strings"
)

// WriteTo writes f as bare "directive = value" lines, one per directive (one
// per entry for lists), in the template's order and without comments. Parse
// reads the output back into a File equal to f. An empty list is written as
// "directive =" so that reading it back clears the default rather than
// keeping it.
func (f *File) WriteTo(w io.Writer) (int64, error) {
	var b strings.Builder
	for i := range directives {
		d := &directives[i]
		for _, v := range d.render(f) {
			b.WriteString(d.name)
			b.WriteString(" =")
			if v != "" {
				b.WriteString(" ")
				b.WriteString(v)
			}
			b.WriteString("\n")
		}
	}
	// One write, so a failure leaves no question of which lines made it.
	n, err := io.WriteString(w, b.String())
	if err != nil {
		return int64(n), fmt.Errorf("failed to write configuration: %w", err)
	}
	return int64(n), nil
}
