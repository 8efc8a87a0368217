package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/apptainer/apptainer/internal/pkg/ociauth"
)

func newRegistryCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "registry",
		Short: "Manage authentication to OCI/Docker registries",
		Long: `Log in to and out of OCI/Docker registries. Credentials are kept in a
docker-style authentication file: --authfile, else ~/.apptainer/docker-config.json
when it exists, else docker's ($DOCKER_CONFIG/config.json, ~/.docker/config.json).
build, pull, push, exec, run and shell read them from the same file, for
docker:// and oras:// alike.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.AddCommand(newRegistryLoginCommand(), newRegistryLogoutCommand())
	return cmd
}

func newRegistryLoginCommand() *cobra.Command {
	var user, password, authFile string
	var passwordStdin, noHTTPS bool
	cmd := &cobra.Command{
		Use:                   "login [login options...] <registry_uri>",
		Short:                 "Login to an OCI/Docker registry",
		Example:               "  apptainer registry login --username alice docker://127.0.0.1:5000",
		Args:                  cobra.ExactArgs(1),
		DisableFlagsInUseLine: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			reg, err := ociauth.RegistryOf(args[0])
			if err != nil {
				return usageError{err}
			}
			user = firstSet(user, envOrNone("LOGIN_USERNAME"))
			password = firstSet(password, envOrNone("LOGIN_PASSWORD"))
			if user == "" {
				return usageError{errors.New("a username is needed to log in to an OCI/Docker registry (--username)")}
			}
			if password, err = loginPassword(password, passwordStdin, cmd); err != nil {
				return err
			}
			file := ociauth.ChooseFile(firstSet(authFile, envOrNone("AUTH_FILE")), userHome(os.Getenv), os.Getenv)
			if err := ociauth.Login(context.Background(), reg, user, password, noHTTPS || envTrue("NOHTTPS", os.Getenv), file); err != nil {
				return err
			}
			stderrLog.Infof("Token stored in %s", file)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVarP(&user, "username", "u", "", "username to authenticate with (required for Docker/OCI registry login)")
	f.StringVarP(&password, "password", "p", "", "password / token to authenticate with")
	f.BoolVar(&passwordStdin, "password-stdin", false, "take password from standard input")
	f.StringVar(&authFile, "authfile", "", "Docker-style authentication file to use for writing/reading OCI registry credentials")
	f.BoolVar(&noHTTPS, "no-https", false, "use http instead of https")
	return cmd
}

// loginPassword is the password given, or read from standard input
// (--password-stdin), or asked for on the terminal.
func loginPassword(given string, fromStdin bool, cmd *cobra.Command) (string, error) {
	switch {
	case fromStdin && given != "":
		return "", usageError{errors.New("--password and --password-stdin are mutually exclusive")}
	case fromStdin:
		line, err := bufio.NewReader(cmd.InOrStdin()).ReadString('\n')
		if err != nil && line == "" {
			return "", fmt.Errorf("could not read the password from standard input: %w", err)
		}
		return strings.TrimRight(line, "\r\n"), nil
	case given != "":
		return given, nil
	}
	fd := int(os.Stdin.Fd())
	if !term.IsTerminal(fd) {
		return "", usageError{errors.New("no password given: use --password, --password-stdin or a terminal")}
	}
	fmt.Fprint(os.Stderr, "Password / Token: ")
	pw, err := term.ReadPassword(fd)
	fmt.Fprintln(os.Stderr)
	if err != nil {
		return "", fmt.Errorf("could not read the password: %w", err)
	}
	return string(pw), nil
}

func newRegistryLogoutCommand() *cobra.Command {
	var authFile string
	cmd := &cobra.Command{
		Use:                   "logout [logout options...] <registry_uri>",
		Short:                 "Logout from an OCI/Docker registry",
		Example:               "  apptainer registry logout docker://127.0.0.1:5000",
		Args:                  cobra.ExactArgs(1),
		DisableFlagsInUseLine: true,
		RunE: func(_ *cobra.Command, args []string) error {
			reg, err := ociauth.RegistryOf(args[0])
			if err != nil {
				return usageError{err}
			}
			file := ociauth.ChooseFile(firstSet(authFile, envOrNone("AUTH_FILE")), userHome(os.Getenv), os.Getenv)
			if err := ociauth.Logout(reg, file); err != nil {
				return err
			}
			stderrLog.Infof("Logout succeeded")
			return nil
		},
	}
	cmd.Flags().StringVar(&authFile, "authfile", "", "Docker-style authentication file to use for writing/reading OCI registry credentials")
	return cmd
}

// envOrNone is APPTAINER_KEY (or SINGULARITY_KEY), "" when unset.
func envOrNone(key string) string {
	v, _ := envLookup(key, os.Getenv, stderrLog)
	return v
}
