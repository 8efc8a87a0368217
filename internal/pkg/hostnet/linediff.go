package hostnet

// lineEdit is one step of a line diff: a line removed from the old text or
// added in the new one.
type lineEdit struct {
	Added bool
	Line  string
}

// maxLCSCells bounds the table of the longest-common-subsequence diff
// (4 bytes a cell). Past it, after trimming the common head and tail, the
// differing middle is reported as all removed then all added: still
// correct, only less minimal.
const maxLCSCells = 4 << 20

// diffLines returns the lines to remove from a and add to get b, in order,
// so that a reordered firewall rule or nameserver shows up (a set
// difference would miss it).
func diffLines(a, b []string) []lineEdit {
	for len(a) > 0 && len(b) > 0 && a[0] == b[0] {
		a, b = a[1:], b[1:]
	}
	for len(a) > 0 && len(b) > 0 && a[len(a)-1] == b[len(b)-1] {
		a, b = a[:len(a)-1], b[:len(b)-1]
	}
	n, m := len(a), len(b)
	var edits []lineEdit
	if n*m > maxLCSCells {
		for _, l := range a {
			edits = append(edits, lineEdit{Line: l})
		}
		for _, l := range b {
			edits = append(edits, lineEdit{Added: true, Line: l})
		}
		return edits
	}

	// lcs[i*(m+1)+j] is the length of the longest common subsequence of
	// a[i:] and b[j:].
	w := m + 1
	lcs := make([]int32, (n+1)*w)
	for i := n - 1; i >= 0; i-- {
		for j := m - 1; j >= 0; j-- {
			if a[i] == b[j] {
				lcs[i*w+j] = lcs[(i+1)*w+j+1] + 1
			} else {
				lcs[i*w+j] = max(lcs[(i+1)*w+j], lcs[i*w+j+1])
			}
		}
	}
	i, j := 0, 0
	for i < n && j < m {
		switch {
		case a[i] == b[j]:
			i, j = i+1, j+1
		case lcs[(i+1)*w+j] >= lcs[i*w+j+1]:
			edits = append(edits, lineEdit{Line: a[i]})
			i++
		default:
			edits = append(edits, lineEdit{Added: true, Line: b[j]})
			j++
		}
	}
	for ; i < n; i++ {
		edits = append(edits, lineEdit{Line: a[i]})
	}
	for ; j < m; j++ {
		edits = append(edits, lineEdit{Added: true, Line: b[j]})
	}
	return edits
}
