package launcher

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"github.com/apptainer/apptainer/internal/pkg/apptainerconf"
)

// applyNoMount turns --no-mount into the configuration it stands for: each
// entry switches a "mount xxx" directive off, or leaves out "bind path"
// entries (all with "bind-paths", one by its destination). conf itself is
// not changed.
func applyNoMount(conf *apptainerconf.File, list []string) (*apptainerconf.File, error) {
	if len(list) == 0 {
		return conf, nil
	}
	c := *conf
	c.BindPath = slices.Clone(conf.BindPath)
	for _, entry := range list {
		for _, what := range strings.Split(entry, ",") {
			what = strings.TrimSpace(what)
			switch {
			case what == "proc":
				c.MountProc = false
			case what == "sys":
				c.MountSys = false
			case what == "dev":
				c.MountDev = apptainerconf.MountDevNo
			case what == "devpts":
				c.MountDevPts = false
			case what == "home":
				c.MountHome = false
			case what == "tmp":
				c.MountTmp = false
			case what == "hostfs", what == "cwd":
				// Never mounted by this build: nothing to leave out.
			case what == "bind-paths":
				c.BindPath = nil
			case filepath.IsAbs(what):
				c.BindPath = slices.DeleteFunc(c.BindPath, func(bp string) bool { return bindPathDest(bp) == filepath.Clean(what) })
			default:
				return nil, fmt.Errorf("%w: --no-mount %q: want proc, sys, dev, devpts, home, tmp, hostfs, cwd, bind-paths or the absolute destination of a bind path", ErrInvalid, what)
			}
		}
	}
	return &c, nil
}

// bindPathDest is where a "bind path" entry (src[:dst]) is mounted.
func bindPathDest(bp string) string {
	src, dst, _ := strings.Cut(bp, ":")
	if dst == "" {
		dst = src
	}
	return filepath.Clean(dst)
}
