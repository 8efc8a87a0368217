package build

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// The SCIF layout an image's apps get, as upstream lays it out:
// /scif/apps/NAME holds the app (bin/, lib/, and its metadata in scif/),
// /scif/data/NAME its input/ and output/.
const (
	scifApps = "scif/apps"
	scifData = "scif/data"
)

func appRoot(name string) string { return "/" + scifApps + "/" + name }

// appBaseEnv is an app's scif/env/01-base.sh: the SCIF_* variables of the
// app that runs.
func appBaseEnv(name string) string {
	return fmt.Sprintf(`#!/bin/sh
# Written by apptainer build: the app that runs.
SCIF_APPNAME=%[1]s
SCIF_APPROOT=/scif/apps/%[1]s
SCIF_APPMETA=/scif/apps/%[1]s/scif
SCIF_DATA=/scif/data
SCIF_APPDATA=/scif/data/%[1]s
SCIF_APPINPUT=/scif/data/%[1]s/input
SCIF_APPOUTPUT=/scif/data/%[1]s/output
export SCIF_APPNAME SCIF_APPROOT SCIF_APPMETA SCIF_DATA SCIF_APPDATA SCIF_APPINPUT SCIF_APPOUTPUT
`, name)
}

// appsGlobalEnv is /.singularity.d/env/94-appsbase.sh: where every app of
// the image is, for any of them to find the others.
func appsGlobalEnv(apps []App) string {
	var b strings.Builder
	b.WriteString("#!/bin/sh\n# Written by apptainer build: the apps of this image.\n")
	for _, a := range apps {
		v := strings.NewReplacer(".", "_", "-", "_").Replace(a.Name)
		fmt.Fprintf(&b, "SCIF_APPDATA_%[1]s=/scif/data/%[2]s\nSCIF_APPMETA_%[1]s=/scif/apps/%[2]s/scif\nSCIF_APPROOT_%[1]s=/scif/apps/%[2]s\n", v, a.Name)
		fmt.Fprintf(&b, "SCIF_APPBIN_%[1]s=/scif/apps/%[2]s/bin\nSCIF_APPLIB_%[1]s=/scif/apps/%[2]s/lib\n", v, a.Name)
		fmt.Fprintf(&b, "export SCIF_APPDATA_%[1]s SCIF_APPMETA_%[1]s SCIF_APPROOT_%[1]s SCIF_APPBIN_%[1]s SCIF_APPLIB_%[1]s\n", v)
		for _, f := range []struct{ kind, v, file string }{
			{"appenv", "APPENV", "env/90-environment.sh"}, {"applabels", "APPLABELS", "labels.json"},
			{"apprun", "APPRUN", "runscript"}, {"appstart", "APPSTART", "startscript"},
		} {
			if a.Has(f.kind) {
				fmt.Fprintf(&b, "export SCIF_%s_%s=/scif/apps/%s/scif/%s\n", f.v, v, a.Name, f.file)
			}
		}
	}
	return b.String()
}

// appsActiveEnv is /.singularity.d/env/95-apps.sh: with --app NAME (the
// runtime sets APPTAINER_APPNAME and SINGULARITY_APPNAME), the app's
// environment, its bin/ first in PATH, its lib/ in LD_LIBRARY_PATH.
const appsActiveEnv = `#!/bin/sh
# Written by apptainer build: the environment of the app chosen with --app.
if [ -n "${SINGULARITY_APPNAME:-}" ]; then
	if [ ! -d "/scif/apps/$SINGULARITY_APPNAME" ]; then
		echo "Could not locate the container application: $SINGULARITY_APPNAME" >&2
		exit 1
	fi
	export SINGULARITY_APPNAME
	SCIF_APPS=/scif/apps
	SCIF_APPROOT="/scif/apps/$SINGULARITY_APPNAME"
	export SCIF_APPS SCIF_APPROOT
	PATH="$SCIF_APPROOT:$PATH"
	if [ -d "$SCIF_APPROOT/bin" ]; then
		PATH="$SCIF_APPROOT/bin:$PATH"
	fi
	if [ -d "$SCIF_APPROOT/lib" ]; then
		LD_LIBRARY_PATH="$SCIF_APPROOT/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
		export LD_LIBRARY_PATH
	fi
	for __scif_env in 01-base.sh 90-environment.sh; do
		if [ -f "$SCIF_APPROOT/scif/env/$__scif_env" ]; then
			# shellcheck source=/dev/null
			. "$SCIF_APPROOT/scif/env/$__scif_env"
		fi
	done
	unset __scif_env
	export PATH
fi
`

// makeApps makes each app's directories and base environment, before
// %appfiles and %appinstall use them.
func makeApps(rootfs string, apps []App) error {
	if len(apps) == 0 {
		return nil
	}
	// Inside the new root only, links of the source image included.
	root, err := os.OpenRoot(rootfs)
	if err != nil {
		return err
	}
	defer root.Close()
	for _, a := range apps {
		for _, d := range []string{"bin", "lib", "scif/env"} {
			if err := root.MkdirAll(filepath.Join(scifApps, a.Name, d), 0o755); err != nil {
				return fmt.Errorf("app %s: %w", a.Name, err)
			}
		}
		for _, d := range []string{"input", "output"} {
			if err := root.MkdirAll(filepath.Join(scifData, a.Name, d), 0o755); err != nil {
				return fmt.Errorf("app %s: %w", a.Name, err)
			}
		}
		if err := writeFile(rootfs, filepath.Join(scifApps, a.Name, "scif/env/01-base.sh"), []byte(appBaseEnv(a.Name)), 0o755); err != nil {
			return err
		}
	}
	return nil
}

// writeAppMetadata writes each app's scripts, environment, help and
// labels, and the image-wide app environment.
func writeAppMetadata(rootfs string, apps []App) error {
	if len(apps) == 0 {
		return nil
	}
	for _, a := range apps {
		meta := filepath.Join(scifApps, a.Name, "scif")
		for _, f := range []struct {
			kind, file string
			mode       os.FileMode
			script     bool
		}{
			{"apprun", "runscript", 0o755, true}, {"appstart", "startscript", 0o755, true},
			{"apptest", "test", 0o755, true}, {"appenv", "env/90-environment.sh", 0o755, true},
			{"apphelp", "runscript.help", 0o644, false},
		} {
			if !a.Has(f.kind) {
				continue
			}
			content := a.Body(f.kind)
			if f.script {
				content = "#!/bin/sh\n\n" + content
			}
			if err := writeFile(rootfs, filepath.Join(meta, f.file), []byte(content), f.mode); err != nil {
				return err
			}
		}
		labels, err := a.Labels()
		if err != nil {
			return err
		}
		m := map[string]string{"SCIF_APP_NAME": a.Name}
		for _, l := range labels {
			m[l.Key] = l.Value
		}
		b, err := json.MarshalIndent(m, "", "\t")
		if err != nil {
			return err
		}
		if err := writeFile(rootfs, filepath.Join(meta, "labels.json"), b, 0o644); err != nil {
			return err
		}
	}
	if err := writeFile(rootfs, metaDir+"/env/94-appsbase.sh", []byte(appsGlobalEnv(apps)), 0o755); err != nil {
		return err
	}
	return writeFile(rootfs, metaDir+"/env/95-apps.sh", []byte(appsActiveEnv), 0o755)
}

// appInstallScript is an app's %appinstall, run like %post from the app's
// root with its base environment.
func appInstallScript(a App) string {
	return fmt.Sprintf("cd %[1]s\n. %[1]s/scif/env/01-base.sh\n%[2]s", appRoot(a.Name), a.Body("appinstall"))
}
