package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/apptainer/apptainer/internal/pkg/build"
	"github.com/apptainer/apptainer/internal/pkg/launcher"
	"github.com/apptainer/apptainer/internal/pkg/runtime/engine"
)

// postRunner is runPost with apptainer.conf read from src.
func postRunner(src confSource) func(ctx context.Context, rootfs, script string, out io.Writer) error {
	return func(ctx context.Context, rootfs, script string, out io.Writer) error {
		return runPost(ctx, src, rootfs, script, out)
	}
}

// runPost runs a definition's %post as root in a container on the sandbox
// rootfs, with the runtime's own exec: the root pivoted to the writable
// sandbox, mount, PID, IPC and UTS namespaces and a /proc of its own, a
// minimal /dev, and the host's network, to reach package mirrors. The
// image's programs run there; in a chroot that shared the host's /proc
// they reached the host's files through /proc/PID/root.
//
// Nothing is mounted over the image's /tmp, /var/tmp or /root, and neither
// /etc/hosts nor /etc/localtime is bound: what %post writes there stays in
// the image, and no mount point of the runtime's is left in it. The host's
// resolv.conf is bound, read-only, only where the image has a plain file
// of its own.
func runPost(ctx context.Context, src confSource, rootfs, script string, out io.Writer) error {
	loaded, err := loadConfig(src)
	if err != nil {
		return err
	}
	conf := *loaded
	conf.MountHome, conf.MountTmp = false, false
	conf.BindPath = nil
	conf.ConfigResolvConf = false
	// The root is the build's own, not an image a user brings: the
	// restrictions on which images may run do not apply to it.
	conf.AllowContainerDir, conf.AllowContainerSIF = true, true
	conf.LimitContainerPaths, conf.LimitContainerOwners, conf.LimitContainerGroups = nil, nil, nil
	host, err := gatherHost(rootfs)
	if err != nil {
		return err
	}
	o := launcher.Options{
		Action: launcher.ActionExec, Image: rootfs, Writable: true,
		Contain: true, PID: true, IPC: true, UTS: true, CleanEnv: true, Plain: true,
		Env:  map[string]string{"APPTAINER_ENVIRONMENT": build.EnvironmentPath, "HOME": "/root"},
		Args: []string{"/bin/sh", "-e", "-c", script},
	}
	if fi, err := os.Lstat(filepath.Join(rootfs, "etc", "resolv.conf")); err == nil && fi.Mode().IsRegular() {
		o.Binds = []string{"/etc/resolv.conf:/etc/resolv.conf:ro"}
	}
	cfg, _, err := launcher.Build(o, &conf, host)
	if err != nil {
		return launcherError(err)
	}
	cfg.Spec.Process.Cwd = "/"

	devNull, err := os.Open(os.DevNull)
	if err != nil {
		return err
	}
	defer devNull.Close()
	r, w, err := os.Pipe()
	if err != nil {
		return err
	}
	copied := make(chan struct{})
	go func() {
		defer close(copied)
		_, _ = io.Copy(out, r)
		r.Close()
	}()
	code, err := engine.RunWith(cfg, devNull, w, w)
	w.Close()
	<-copied
	if err != nil {
		return err
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if code != 0 {
		return fmt.Errorf("exit status %d", code)
	}
	return nil
}
