package ociauth

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestPlainHTTPAllowed(t *testing.T) {
	tests := []struct {
		scheme, host string
		insecure     bool
		want         bool
	}{
		{"https", "registry.example.org", false, true},
		{"https", "10.1.2.3", false, true},
		{"http", "127.0.0.1", false, true},
		{"http", "127.8.9.10", false, true},
		{"http", "::1", false, true},
		{"http", "localhost", false, true},
		// What go-containerregistry would send in clear on its own.
		{"http", "10.1.2.3", false, false},
		{"http", "192.168.0.5", false, false},
		{"http", "registry.local", false, false},
		{"http", "registry.example.org", false, false},
		{"http", "localhost.example.org", false, false},
		// --no-https
		{"http", "10.1.2.3", true, true},
	}
	for _, tt := range tests {
		if got := PlainHTTPAllowed(tt.scheme, tt.host, tt.insecure); got != tt.want {
			t.Errorf("PlainHTTPAllowed(%q, %q, %v) = %v, want %v", tt.scheme, tt.host, tt.insecure, got, tt.want)
		}
	}
}

func TestTransportRefusesPlainHTTP(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}))
	defer srv.Close()
	// Positive control: the loopback server answers over plain HTTP.
	req, _ := http.NewRequestWithContext(context.Background(), http.MethodGet, srv.URL, nil)
	resp, err := Transport(false).RoundTrip(req)
	if err != nil {
		t.Fatalf("loopback over HTTP: %v", err)
	}
	resp.Body.Close()
	// The same request to a private address is refused before it leaves.
	req, _ = http.NewRequestWithContext(context.Background(), http.MethodGet, "http://10.255.255.1:5000/v2/", nil)
	if _, err := Transport(false).RoundTrip(req); !errors.Is(err, ErrPlainHTTP) {
		t.Errorf("plain HTTP to 10.255.255.1: %v, want ErrPlainHTTP", err)
	}
}
