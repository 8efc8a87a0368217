package main

import (
	"context"
	"os"
	"path/filepath"
)

// envScript is a definition's environment of a few exports, as sourced in
// every container of the image.
const envScript = `#!/bin/sh
export IMGVAR=fromimage
export PATH=/opt/img/bin:$PATH
export LC_ALL=C
`

// envGroup times what applying the image's environment costs: exec, and
// exec instance:// into a plain instance, of a busybox image with
// environment scripts (its /bin/sh runs the action script, which sources
// them) against the same image without /bin/sh (the command runs as it
// is), measured alternately.
func (r *runner) envGroup(ctx context.Context, c config) error {
	withEnv, err := r.envImage("env-sh", true)
	if err != nil {
		return err
	}
	noShell, err := r.envImage("env-nosh", false)
	if err != nil {
		return err
	}
	ex, exPeer := r.s(caseEnvExec, Seconds), r.s(caseEnvExecPeer, Seconds)
	join, joinPeer := r.s(caseEnvJoin, Seconds), r.s(caseEnvJoinPeer, Seconds)
	for _, in := range []struct{ name, img string }{{"bench-env-sh", withEnv}, {"bench-env-nosh", noShell}} {
		if _, err := r.startInstance(in.img, in.name); err != nil {
			return err
		}
		defer r.app("instance", "stop", "-t", "20", in.name)
	}
	for i := -2; i < c.Execs && ctx.Err() == nil; i++ {
		for _, m := range []struct {
			s    *Series
			args []string
		}{
			{ex, []string{"exec", withEnv, "/bin/true"}},
			{exPeer, []string{"exec", noShell, "/bin/true"}},
			{join, []string{"exec", "instance://bench-env-sh", "/bin/true"}},
			{joinPeer, []string{"exec", "instance://bench-env-nosh", "/bin/true"}},
		} {
			d, err := r.timedApp(m.args...)
			if err != nil {
				return err
			}
			if i >= 0 { // two warm-up rounds are not counted
				m.s.AddDuration(d)
			}
		}
	}
	return ctx.Err()
}

// envImage makes a busybox sandbox with the environment scripts an
// image built by apptainer has, with or without /bin/sh.
func (r *runner) envImage(name string, shell bool) (string, error) {
	dir, err := makeBusyboxRootfs(filepath.Join(r.Top, name))
	if err != nil {
		return "", err
	}
	envDir := filepath.Join(dir, ".singularity.d", "env")
	if err := os.MkdirAll(envDir, 0o755); err != nil {
		return "", err
	}
	for file, content := range map[string]string{
		"01-base.sh":        "#!/bin/sh\n",
		"90-environment.sh": envScript,
		"99-base.sh":        "#!/bin/sh\nLD_LIBRARY_PATH=/.singularity.d/libs\nPS1='Apptainer> '\nexport LD_LIBRARY_PATH PS1\n",
	} {
		if err := os.WriteFile(filepath.Join(envDir, file), []byte(content), 0o755); err != nil {
			return "", err
		}
	}
	if !shell {
		if err := os.Remove(filepath.Join(dir, "bin", "sh")); err != nil {
			return "", err
		}
	}
	return dir, nil
}
