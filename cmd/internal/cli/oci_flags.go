package cli

import (
	"os"
	"os/user"
	"path/filepath"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/apptainer/apptainer/internal/pkg/imgcache"
	"github.com/apptainer/apptainer/internal/pkg/ociimage"
)

// ociFlags are the flags of build and pull that reach an OCI image.
type ociFlags struct {
	noHTTPS, disableCache bool
}

func (o *ociFlags) register(cmd *cobra.Command) {
	f := cmd.Flags()
	f.BoolVar(&o.noHTTPS, "no-https", false, "use http instead of https for docker:// oras:// and library://<hostname>/... URIs")
	f.BoolVar(&o.noHTTPS, "nohttps", false, "use http instead of https for docker:// oras:// and library://<hostname>/... URIs")
	_ = f.MarkDeprecated("nohttps", "use --no-https")
	f.BoolVar(&o.disableCache, "disable-cache", false, "do not use cache or create cache")
}

// options resolves the flags and their environment keys (APPTAINER_NOHTTPS,
// APPTAINER_NO_HTTPS, APPTAINER_DISABLE_CACHE, APPTAINER_CACHEDIR) into
// what ociimage needs.
func (o *ociFlags) options(getenv func(string) string) ociimage.Options {
	opts := ociimage.Options{Insecure: o.noHTTPS || envTrue("NOHTTPS", getenv) || envTrue("NO_HTTPS", getenv)}
	if !o.disableCache && !envTrue("DISABLE_CACHE", getenv) {
		opts.LayerCache = imgcache.Cache{Root: cacheRoot(getenv)}.Blobs()
	}
	return opts
}

// envTrue reports whether APPTAINER_KEY (or SINGULARITY_KEY) is set to a
// true value.
func envTrue(key string, getenv func(string) string) bool {
	v, ok := envLookup(key, getenv, stderrLog)
	if !ok {
		return false
	}
	b, err := strconv.ParseBool(v)
	return err == nil && b
}

// cacheRoot is upstream's cache directory: $APPTAINER_CACHEDIR/cache, by
// default ~/.apptainer/cache.
func cacheRoot(getenv func(string) string) string {
	if dir, ok := envLookup("CACHEDIR", getenv, stderrLog); ok {
		return filepath.Join(dir, "cache")
	}
	home := getenv("HOME")
	if home == "" {
		if u, err := user.Current(); err == nil {
			home = u.HomeDir
		}
	}
	if home == "" {
		home = os.TempDir()
	}
	return filepath.Join(home, ".apptainer", "cache")
}
