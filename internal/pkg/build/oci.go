package build

import (
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/apptainer/apptainer/internal/pkg/ociimage"
)

// dockerEnvPath holds an OCI image's ENV, sourced before the definition's
// %environment, at upstream's path.
const dockerEnvPath = metaDir + "/env/10-docker2singularity.sh"

// ociSource is the image a docker, oci, oci-archive or docker-archive
// definition starts from, as a source argument ("docker://REF",
// "oci-archive:FILE[:REF]"). Registry: and Namespace: go before From:
// as upstream puts them.
func ociSource(h map[string]string) string {
	from := h["from"]
	if ns := h["namespace"]; ns != "" {
		from = ns + "/" + from
	}
	if reg := h["registry"]; reg != "" {
		from = reg + "/" + from
	}
	if h["bootstrap"] == ociimage.TransportDocker {
		return "docker://" + strings.TrimPrefix(from, "//")
	}
	return h["bootstrap"] + ":" + from
}

// bootstrapOCI unpacks the image into the root file system and writes its
// configuration where the container reads it: ENV into
// 10-docker2singularity.sh, ENTRYPOINT and CMD into the runscript (a
// %runscript of the definition replaces it later), labels into
// labels.json (a definition's %labels are added later).
func (b *builder) bootstrapOCI() error {
	src, err := ociimage.ParseSource(ociSource(b.def.Header), func(p string) bool { _, err := os.Stat(p); return err == nil })
	if err != nil {
		return err
	}
	b.step("Fetching OCI image " + src.String())
	cfg, err := ociimage.Extract(b.ctx, src, b.oci, b.rootfs, b.warn)
	if err != nil {
		return err
	}
	b.step("Inserting Apptainer configuration...")
	if err := makeMetaDirs(b.rootfs); err != nil {
		return err
	}
	if err := writeFile(b.rootfs, dockerEnvPath, []byte(ociEnvScript(cfg.Env)), 0o755); err != nil {
		return err
	}
	if err := writeFile(b.rootfs, runscriptPath, []byte(ociRunscript(cfg)), 0o755); err != nil {
		return err
	}
	labels := cfg.Labels
	if labels == nil {
		labels = map[string]string{}
	}
	lj, err := json.MarshalIndent(labels, "", "\t")
	if err != nil {
		return fmt.Errorf("failed to encode the image's labels: %w", err)
	}
	return writeFile(b.rootfs, labelsPath, lj, 0o644)
}

// envName is a variable name a shell can export.
var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// ociEnvScript turns an image's ENV into shell: each variable keeps a
// value the user passed in (APPTAINERENV_, --env), except PATH, which the
// image sets, as upstream does. Entries that are no shell name are left
// out.
func ociEnvScript(env []string) string {
	var s strings.Builder
	s.WriteString("#!/bin/sh\n# Written by apptainer build: the ENV of the OCI image.\n")
	for _, kv := range env {
		k, v, hasValue := strings.Cut(kv, "=")
		switch {
		case !envName.MatchString(k):
			continue
		case !hasValue:
			fmt.Fprintf(&s, "export %s=\"${%s:-}\"\n", k, k)
		case k == "PATH":
			fmt.Fprintf(&s, "export PATH=\"%s\"\n", inDoubleQuotes(v))
		default:
			fmt.Fprintf(&s, "export %s=\"${%s:-\"%s\"}\"\n", k, k, inDoubleQuotes(v))
		}
	}
	return s.String()
}

// inDoubleQuotes escapes s to stand for itself between double quotes.
func inDoubleQuotes(s string) string {
	return strings.NewReplacer(`\`, `\\`, `"`, `\"`, "`", "\\`", `$`, `\$`).Replace(s)
}

// inSingleQuotes quotes s as one shell word.
func inSingleQuotes(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'"'"'`) + "'"
}

// ociRunscript makes the runscript of an OCI image: ENTRYPOINT, then the
// run's arguments or, without any, CMD. ENTRYPOINT and CMD are taken as
// written; the run's arguments go through the shell once more (so "$HOME"
// in one is the container's), as upstream's runscript does, unless
// --no-eval (APPTAINER_NO_EVAL in the container) asks for docker's way.
func ociRunscript(cfg v1.Config) string {
	evalWords := func(words []string) string {
		q := make([]string, len(words))
		for i, w := range words {
			q[i] = `"` + inDoubleQuotes(w) + `"`
		}
		return inSingleQuotes(strings.Join(q, " "))
	}
	setWords := func(words []string, rest string) string {
		q := make([]string, len(words))
		for i, w := range words {
			q[i] = inSingleQuotes(w)
		}
		if rest != "" {
			q = append(q, rest)
		}
		return "set -- " + strings.Join(q, " ")
	}
	var s strings.Builder
	s.WriteString("#!/bin/sh\n# Written by apptainer build from the OCI image's ENTRYPOINT and CMD.\n")
	fmt.Fprintf(&s, "OCI_ENTRYPOINT=%s\nOCI_CMD=%s\n", evalWords(cfg.Entrypoint), evalWords(cfg.Cmd))
	s.WriteString("if [ -n \"${APPTAINER_NO_EVAL:-}${SINGULARITY_NO_EVAL:-}\" ]; then\n")
	if len(cfg.Cmd) > 0 {
		fmt.Fprintf(&s, "\tif [ $# -eq 0 ]; then\n\t\t%s\n\tfi\n", setWords(cfg.Cmd, ""))
	}
	if len(cfg.Entrypoint) > 0 {
		fmt.Fprintf(&s, "\t%s\n", setWords(cfg.Entrypoint, `"$@"`))
	}
	s.WriteString(`	exec "$@"
fi
if [ $# -gt 0 ]; then
	OCI_ARGS=
	for arg in "$@"; do
		OCI_ARGS="$OCI_ARGS \"$arg\""
	done
else
	OCI_ARGS="$OCI_CMD"
fi
eval "set -- $OCI_ENTRYPOINT $OCI_ARGS"
exec "$@"
`)
	return s.String()
}
