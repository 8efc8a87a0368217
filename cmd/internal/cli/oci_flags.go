package cli

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/apptainer/apptainer/internal/pkg/imgcache"
	"github.com/apptainer/apptainer/internal/pkg/ociauth"
	"github.com/apptainer/apptainer/internal/pkg/ociimage"
	"github.com/apptainer/apptainer/internal/pkg/oras"
)

// ociFlags are the flags of build, pull and the actions that reach an
// OCI image.
type ociFlags struct {
	noHTTPS, disableCache bool
	authFile              string
	dockerLogin           bool
	dockerUser, dockerPW  string
	// archEnv, when set, adds --arch and --arch-variant with this
	// environment key (BUILD_ARCH for build, PULL_ARCH for pull, and
	// _VARIANT after it).
	archEnv           string
	arch, archVariant string
	// authOnly registers only the flags that reach a registry (upstream's
	// set for push): no cache, no --docker-login.
	authOnly bool
}

// ociArchs are the architectures an image may be asked for, as OCI
// platforms spell them.
var ociArchs = []string{"386", "amd64", "arm", "arm64", "loong64", "mips64le", "ppc64le", "riscv64", "s390x"}

func (o *ociFlags) register(cmd *cobra.Command) {
	f := cmd.Flags()
	f.BoolVar(&o.noHTTPS, "no-https", false, "use http instead of https for docker:// oras:// and library://<hostname>/... URIs")
	f.BoolVar(&o.noHTTPS, "nohttps", false, "use http instead of https for docker:// oras:// and library://<hostname>/... URIs")
	_ = f.MarkDeprecated("nohttps", "use --no-https")
	f.StringVar(&o.authFile, "authfile", "", "Docker-style authentication file to use for writing/reading OCI registry credentials")
	if !o.authOnly {
		f.BoolVar(&o.disableCache, "disable-cache", false, "do not use cache or create cache")
		f.BoolVar(&o.dockerLogin, "docker-login", false, "login to a Docker Repository interactively")
	}
	f.StringVar(&o.dockerUser, "docker-username", "", "specify a username for docker authentication")
	f.StringVar(&o.dockerPW, "docker-password", "", "specify a password for docker authentication")
	_ = f.MarkHidden("docker-username")
	_ = f.MarkHidden("docker-password")
	if o.archEnv != "" {
		f.StringVar(&o.arch, "arch", "", "architecture to build for ("+strings.Join(ociArchs, ", ")+"; default: this machine's)")
		f.StringVar(&o.archVariant, "arch-variant", "", "architecture variant to build for (v7, v8...)")
	}
}

// platform is the image platform --arch and --arch-variant ask for, nil
// for this machine's.
func (o *ociFlags) platform(getenv func(string) string) (*v1.Platform, error) {
	arch, variant := o.arch, o.archVariant
	if o.archEnv != "" {
		a, _ := envLookup(o.archEnv, getenv, stderrLog)
		v, _ := envLookup(o.archEnv+"_VARIANT", getenv, stderrLog)
		arch, variant = firstSet(arch, a), firstSet(variant, v)
	}
	if arch == "" {
		if variant != "" {
			return nil, usageError{errors.New("--arch-variant needs --arch")}
		}
		return nil, nil
	}
	if !slices.Contains(ociArchs, arch) {
		return nil, usageError{fmt.Errorf("failed to parse the arch value: %s, should be one of %v", arch, ociArchs)}
	}
	return &v1.Platform{OS: "linux", Architecture: arch, Variant: variant}, nil
}

// options resolves the flags and their environment keys (APPTAINER_NOHTTPS,
// _NO_HTTPS, _DISABLE_CACHE, _CACHEDIR, _AUTH_FILE, _DOCKER_LOGIN,
// _DOCKER_USERNAME, _DOCKER_PASSWORD; the last two also without prefix)
// into what ociimage needs. --docker-login asks on the terminal.
func (o *ociFlags) options(getenv func(string) string) (ociimage.Options, error) {
	opts := ociimage.Options{Insecure: o.noHTTPS || envTrue("NOHTTPS", getenv) || envTrue("NO_HTTPS", getenv)}
	var err error
	if opts.Platform, err = o.platform(getenv); err != nil {
		return opts, err
	}
	if !o.authOnly && !o.disableCache && !envTrue("DISABLE_CACHE", getenv) {
		opts.LayerCache = imgcache.Cache{Root: cacheRoot(getenv)}.Blobs()
	}
	authFile := o.authFile
	if v, ok := envLookup("AUTH_FILE", getenv, stderrLog); ok && authFile == "" {
		authFile = v
	}
	opts.Keychain = ociauth.Keychain(ociauth.ChooseFile(authFile, userHome(getenv), getenv), authFile != "",
		func(msg string) { stderrLog.Warningf("%s", msg) })
	user, pw := firstSet(o.dockerUser, envOrPlain("DOCKER_USERNAME", getenv)), firstSet(o.dockerPW, envOrPlain("DOCKER_PASSWORD", getenv))
	if o.dockerLogin || !o.authOnly && envTrue("DOCKER_LOGIN", getenv) {
		if user, pw, err = askCredentials(user); err != nil {
			return opts, err
		}
	}
	if user != "" || pw != "" {
		opts.Auth = &authn.AuthConfig{Username: user, Password: pw}
	}
	return opts, nil
}

// orasOptions are the same choices for an oras:// reference: its SIF
// files are cached (type "oras") whenever the layers would be.
func orasOptions(o ociimage.Options, getenv func(string) string) oras.Options {
	oo := oras.Options{Insecure: o.Insecure, Auth: o.Auth, Keychain: o.Keychain, Platform: o.Platform,
		Transport: ociauth.Transport(o.Insecure),
		Progress:  func(msg string) { stderrLog.Infof("%s", msg) }}
	if o.LayerCache != nil {
		oo.Cache = imgcache.Cache{Root: cacheRoot(getenv)}.ORAS()
	}
	return oo
}

func firstSet(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// envOrPlain is APPTAINER_KEY or SINGULARITY_KEY, else KEY itself, as
// upstream reads DOCKER_USERNAME and DOCKER_PASSWORD.
func envOrPlain(key string, getenv func(string) string) string {
	if v, ok := envLookup(key, getenv, stderrLog); ok {
		return v
	}
	return getenv(key)
}

// askCredentials asks for a username (unless given) and a password on
// the terminal.
func askCredentials(user string) (string, string, error) {
	fd := int(os.Stdin.Fd())
	if !term.IsTerminal(fd) {
		return "", "", errors.New("--docker-login asks for the credentials on a terminal, and standard input is none (use APPTAINER_DOCKER_USERNAME and APPTAINER_DOCKER_PASSWORD)")
	}
	if user == "" {
		fmt.Fprint(os.Stderr, "Enter Docker Username: ")
		line, err := bufio.NewReader(os.Stdin).ReadString('\n')
		if err != nil {
			return "", "", fmt.Errorf("could not read the username: %w", err)
		}
		user = strings.TrimSpace(line)
	}
	fmt.Fprint(os.Stderr, "Enter Docker Password: ")
	pw, err := term.ReadPassword(fd)
	fmt.Fprintln(os.Stderr)
	if err != nil {
		return "", "", fmt.Errorf("could not read the password: %w", err)
	}
	return user, string(pw), nil
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
	return filepath.Join(userHome(getenv), ".apptainer", "cache")
}

// userHome is $HOME, else the user's home directory from the password
// database.
func userHome(getenv func(string) string) string {
	if home := getenv("HOME"); home != "" {
		return home
	}
	if u, err := user.Current(); err == nil && u.HomeDir != "" {
		return u.HomeDir
	}
	return os.TempDir()
}
