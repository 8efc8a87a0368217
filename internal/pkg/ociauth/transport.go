package ociauth

import (
	"errors"
	"fmt"
	"net"
	"net/http"

	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// ErrPlainHTTP: a registry request would have gone over plain HTTP.
var ErrPlainHTTP = errors.New("plain HTTP refused")

// Transport carries every registry request: over HTTPS, except to a
// loopback registry or with insecure (--no-https). go-containerregistry on
// its own also falls back to plain HTTP for private (RFC 1918) addresses
// and *.local names, where whoever can block HTTPS on the network would
// then read the credentials and serve the image: not here. Token realms
// the registry names go through it too.
func Transport(insecure bool) http.RoundTripper {
	return httpsOnly{next: remote.DefaultTransport, insecure: insecure}
}

type httpsOnly struct {
	next     http.RoundTripper
	insecure bool
}

func (t httpsOnly) RoundTrip(r *http.Request) (*http.Response, error) {
	if !PlainHTTPAllowed(r.URL.Scheme, r.URL.Hostname(), t.insecure) {
		return nil, fmt.Errorf("%w to %s: use --no-https for a registry without TLS", ErrPlainHTTP, r.URL.Host)
	}
	return t.next.RoundTrip(r)
}

// PlainHTTPAllowed says whether a request of scheme to host may go out.
func PlainHTTPAllowed(scheme, host string, insecure bool) bool {
	if scheme == "https" || insecure || host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// hostOf is the host of a registry's HOST[:PORT].
func hostOf(registry string) string {
	if h, _, err := net.SplitHostPort(registry); err == nil {
		return h
	}
	return registry
}
