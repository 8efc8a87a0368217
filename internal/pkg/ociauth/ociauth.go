// Package ociauth keeps OCI registry credentials in a docker-style
// authentication file (config.json: "auths", credential helpers), as
// upstream does: ~/.apptainer/docker-config.json when it exists, else
// docker's own file, or the file --authfile names. It reads them for
// pulls and writes them for registry login/logout. The file format and
// its credential helpers are docker/cli's, used through its package.
package ociauth

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/docker/cli/cli/config"
	"github.com/docker/cli/cli/config/configfile"
	"github.com/docker/cli/cli/config/types"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// Docker Hub's credentials are kept under a key of their own.
const (
	dockerHub         = "index.docker.io"
	dockerHubAlias    = "docker.io"
	dockerHubAuthsKey = "https://index.docker.io/v1/"
)

// ErrNotLoggedIn: logout of a registry the file holds nothing for.
var ErrNotLoggedIn = errors.New("not logged in")

// ChooseFile is the authentication file to use: requested when set, else
// home's .apptainer/docker-config.json when it exists, else docker's
// ($DOCKER_CONFIG/config.json, by default home's .docker/config.json).
func ChooseFile(requested, home string, getenv func(string) string) string {
	if requested != "" {
		return requested
	}
	own := filepath.Join(home, ".apptainer", "docker-config.json")
	if _, err := os.Stat(own); err == nil {
		return own
	}
	if dir := getenv("DOCKER_CONFIG"); dir != "" {
		return filepath.Join(dir, "config.json")
	}
	return filepath.Join(home, ".docker", "config.json")
}

// load reads file; a file that does not exist is empty.
func load(file string) (*configfile.ConfigFile, error) {
	f, err := os.Open(file)
	if errors.Is(err, os.ErrNotExist) {
		return configfile.New(file), nil
	}
	if err != nil {
		return nil, fmt.Errorf("failed to read registry credentials from %s: %w", file, err)
	}
	defer f.Close()
	cf, err := config.LoadFromReader(f)
	if err != nil {
		return nil, fmt.Errorf("failed to read registry credentials from %s: %w", file, err)
	}
	cf.Filename = file
	return cf, nil
}

// authsKey is the key of a registry in the file.
func authsKey(registry string) string {
	if registry == dockerHub || registry == dockerHubAlias {
		return dockerHubAuthsKey
	}
	return registry
}

// Keychain reads credentials from file for each registry; none found is
// anonymous. A file that cannot be read is warned about (when the user
// named it) and taken as empty.
func Keychain(file string, named bool, warn func(string)) authn.Keychain {
	return &keychain{file: file, named: named, warn: warn}
}

type keychain struct {
	mu    sync.Mutex
	file  string
	named bool
	warn  func(string)
}

func (k *keychain) Resolve(r authn.Resource) (authn.Authenticator, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	cf, err := load(k.file)
	if err != nil {
		if k.named && k.warn != nil {
			k.warn(fmt.Sprintf("%v; proceeding with anonymous authentication", err))
		}
		return authn.Anonymous, nil
	}
	for _, key := range []string{r.String(), r.RegistryStr()} {
		ac, err := cf.GetAuthConfig(authsKey(key))
		if err != nil {
			return nil, err
		}
		if ac.Username != "" || ac.Password != "" || ac.Auth != "" || ac.IdentityToken != "" || ac.RegistryToken != "" {
			return authn.FromConfig(authn.AuthConfig{Username: ac.Username, Password: ac.Password, Auth: ac.Auth,
				IdentityToken: ac.IdentityToken, RegistryToken: ac.RegistryToken}), nil
		}
	}
	return authn.Anonymous, nil
}

// RegistryOf takes the registry out of a login argument: docker://HOST,
// oras://HOST or HOST, with no path.
func RegistryOf(arg string) (string, error) {
	host := arg
	for _, p := range []string{"docker://", "oras://"} {
		host = strings.TrimPrefix(host, p)
	}
	host = strings.TrimSuffix(host, "/")
	if host == "" || strings.Contains(host, "/") || strings.Contains(host, "://") {
		return "", fmt.Errorf("%q: want a registry, docker://HOST[:PORT] or oras://HOST[:PORT]", arg)
	}
	if _, err := name.NewRegistry(host); err != nil {
		return "", fmt.Errorf("%q: %w", arg, err)
	}
	return host, nil
}

// Login checks username and password with the registry (its challenge,
// basic or token) and, when they are accepted, stores them in file.
func Login(ctx context.Context, registry, username, password string, insecure bool, file string) error {
	var opts []name.Option
	if insecure {
		opts = append(opts, name.Insecure)
	}
	reg, err := name.NewRegistry(registry, opts...)
	if err != nil {
		return err
	}
	if err := checkLogin(ctx, reg, username, password, insecure); err != nil {
		return fmt.Errorf("while login to %s: %w", registry, err)
	}
	cf, err := load(file)
	if err != nil {
		return err
	}
	key := authsKey(registry)
	ac := types.AuthConfig{Username: username, Password: password, ServerAddress: key}
	if helper(cf, key) {
		if err := cf.GetCredentialsStore(key).Store(ac); err != nil {
			return fmt.Errorf("while trying to store new credentials: %w", err)
		}
	} else {
		// In the file itself, as docker's file store does, without its
		// advice printed on the way.
		if cf.AuthConfigs == nil {
			cf.AuthConfigs = map[string]types.AuthConfig{}
		}
		cf.AuthConfigs[key] = ac
	}
	return save(cf)
}

// helper reports whether the file sends key's credentials to a
// credential helper.
func helper(cf *configfile.ConfigFile, key string) bool {
	return cf.CredentialsStore != "" || cf.CredentialHelpers[key] != ""
}

// checkLogin asks the registry's /v2/ with the credentials: a token
// registry checks them when giving the token, a basic one on the request.
func checkLogin(ctx context.Context, reg name.Registry, username, password string, insecure bool) error {
	auth := authn.FromConfig(authn.AuthConfig{Username: username, Password: password})
	rt, err := transport.NewWithContext(ctx, reg, auth, Transport(insecure), []string{reg.Scope(transport.PullScope)})
	if err != nil {
		return err
	}
	scheme := "https"
	if host := hostOf(reg.RegistryStr()); reg.Scheme() == "http" && PlainHTTPAllowed("http", host, insecure) {
		scheme = "http"
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, scheme+"://"+reg.RegistryStr()+"/v2/", nil)
	if err != nil {
		return err
	}
	resp, err := (&http.Client{Transport: rt}).Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("the registry answered %s", resp.Status)
	}
	return nil
}

// Logout removes the registry's credentials from file.
func Logout(registry, file string) error {
	cf, err := load(file)
	if err != nil {
		return err
	}
	key := authsKey(registry)
	if helper(cf, key) {
		if err := cf.GetCredentialsStore(key).Erase(key); err != nil {
			return fmt.Errorf("while removing the credentials of %s: %w", registry, err)
		}
		return save(cf)
	}
	if _, ok := cf.AuthConfigs[key]; !ok {
		return fmt.Errorf("%w to %s (in %s)", ErrNotLoggedIn, registry, file)
	}
	delete(cf.AuthConfigs, key)
	return save(cf)
}

// save writes the file, private: it holds passwords.
func save(cf *configfile.ConfigFile) error {
	if err := cf.Save(); err != nil {
		return fmt.Errorf("failed to write %s: %w", cf.Filename, err)
	}
	return os.Chmod(cf.Filename, 0o600)
}
