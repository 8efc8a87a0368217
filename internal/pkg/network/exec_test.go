package network

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestPluginEnv(t *testing.T) {
	environ := []string{
		"HOME=/root", "PATH=/home/u/bin", "LD_PRELOAD=/evil.so", "CNI_IFNAME=eth9", "CNI_CONF_DIR=/x",
		"CNI_COMMAND=ADD", "CNI_CONTAINERID=42", "CNI_NETNS=/proc/42/ns/net",
		"CNI_ARGS=IgnoreUnknown=1;IP=10.0.0.1", "CNI_IFNAME=eth0", "CNI_PATH=/usr/lib/cni",
	}
	want := []string{
		"CNI_COMMAND=ADD", "CNI_CONTAINERID=42", "CNI_NETNS=/proc/42/ns/net",
		"CNI_ARGS=IgnoreUnknown=1;IP=10.0.0.1", "CNI_IFNAME=eth0", "CNI_PATH=/usr/lib/cni",
		"PATH=" + PluginPath,
	}
	if got := pluginEnv(environ); !reflect.DeepEqual(got, want) {
		t.Fatalf("pluginEnv() = %q\nwant %q", got, want)
	}
	if got := pluginEnv(nil); !reflect.DeepEqual(got, []string{"PATH=" + PluginPath}) {
		t.Fatalf("pluginEnv(nil) = %q", got)
	}
}

// fakePlugin is a shell CNI plugin. It logs "COMMAND type ifname" to
// calls.log, its environment to env.<COMMAND> and its stdin to
// stdin.<COMMAND>.<type>; a configuration holding "fail":"<COMMAND>" makes
// it fail that command and "hang":"<COMMAND>" makes it hang.
const fakePlugin = `#!/bin/sh
dir=$(dirname "$0")
conf=$(cat)
type=$(basename "$0")
echo "$CNI_COMMAND $type $CNI_IFNAME" >> "$dir/calls.log"
env > "$dir/env.$CNI_COMMAND"
printf '%s' "$conf" > "$dir/stdin.$CNI_COMMAND.$type"
case "$conf" in *"\"hang\":\"$CNI_COMMAND\""*) exec sleep 30 ;; esac
case "$conf" in *"\"fail\":\"$CNI_COMMAND\""*)
	echo "{\"cniVersion\":\"1.0.0\",\"code\":999,\"msg\":\"$type refused $CNI_COMMAND\"}"; exit 1 ;;
esac
if [ "$CNI_COMMAND" = ADD ]; then
	echo "{\"cniVersion\":\"1.0.0\",\"interfaces\":[{\"name\":\"$CNI_IFNAME\",\"mac\":\"02:00:00:00:00:01\",\"sandbox\":\"$CNI_NETNS\"}],\"ips\":[{\"address\":\"10.9.0.2/24\",\"interface\":0}]}"
fi
`

// fakeEnv makes a plugin directory with fake plugins named types and an
// empty configuration directory.
func fakeEnv(t *testing.T, types ...string) Config {
	t.Helper()
	plugins := t.TempDir()
	for _, typ := range types {
		if err := os.WriteFile(filepath.Join(plugins, typ), []byte(fakePlugin), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return Config{ConfDir: t.TempDir(), PluginDirs: []string{plugins}, CacheDir: t.TempDir()}
}

func calls(t *testing.T, cfg Config) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(cfg.PluginDirs[0], "calls.log"))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	return strings.Fields(strings.ReplaceAll(string(b), " ", "_"))
}

// pluginFile reads a file the fake plugins wrote. A missing file fails the
// test: its empty content would pass a check that something is absent.
func pluginFile(t *testing.T, cfg Config, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(cfg.PluginDirs[0], name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func expectCalls(t *testing.T, cfg Config, want ...string) {
	t.Helper()
	if got := calls(t, cfg); !slices.Equal(got, want) {
		t.Fatalf("plugin calls = %q\nwant %q", got, want)
	}
}

func TestAddDelOrder(t *testing.T) {
	cfg := fakeEnv(t, "a", "b", "c")
	writeConf(t, cfg.ConfDir, "1.conflist", confList("one", "a", "b+ports"))
	writeConf(t, cfg.ConfDir, "2.conflist", confList("two", "c"))
	s, err := New(cfg, []string{"one", "two"}, []string{"portmap=80:8080/tcp", "two:K=v"})
	if err != nil {
		t.Fatal(err)
	}
	res, err := s.Add(context.Background(), "ct1", "/proc/1/ns/net")
	if err != nil {
		t.Fatalf("Add() error: %v", err)
	}
	expectCalls(t, cfg, "ADD_a_eth0", "ADD_b_eth0", "ADD_c_eth1")
	if res.IP != "10.9.0.2" || len(res.Attachments) != 2 {
		t.Fatalf("Add() result = %+v", res)
	}
	if a := res.Attachments[1]; a.Network != "two" || a.IfName != "eth1" || a.MAC != "02:00:00:00:00:01" || !slices.Equal(a.IPs, []string{"10.9.0.2/24"}) {
		t.Fatalf("attachment = %+v", a)
	}
	// The port mapping reached only the plugin declaring the capability.
	stdinB := pluginFile(t, cfg, "stdin.ADD.b")
	stdinA := pluginFile(t, cfg, "stdin.ADD.a")
	if !strings.Contains(string(stdinB), `"runtimeConfig":{"portMappings":[{"hostPort":80,"containerPort":8080,"protocol":"tcp"}]}`) ||
		strings.Contains(string(stdinA), "portMappings") {
		t.Fatalf("capability args misplaced:\na: %s\nb: %s", stdinA, stdinB)
	}

	if err := s.Del(context.Background(), "ct1", "/proc/1/ns/net"); err != nil {
		t.Fatalf("Del() error: %v", err)
	}
	expectCalls(t, cfg, "ADD_a_eth0", "ADD_b_eth0", "ADD_c_eth1", "DEL_c_eth1", "DEL_b_eth0", "DEL_a_eth0")

	// The plugin saw libcni's variables and our PATH, nothing inherited.
	env, err := os.ReadFile(filepath.Join(cfg.PluginDirs[0], "env.DEL"))
	if err != nil {
		t.Fatal(err)
	}
	vars := strings.Fields(string(env))
	for _, want := range []string{"CNI_COMMAND=DEL", "CNI_CONTAINERID=ct1", "CNI_NETNS=/proc/1/ns/net", "CNI_IFNAME=eth0", "CNI_ARGS=IgnoreUnknown=1", "PATH=" + PluginPath} {
		if !slices.Contains(vars, want) {
			t.Errorf("plugin environment lacks %s: %q", want, vars)
		}
	}
	for _, v := range vars {
		if strings.HasPrefix(v, "HOME=") || strings.HasPrefix(v, "GOPATH=") {
			t.Errorf("process variable %s leaked to the plugin", v)
		}
	}
}

func TestAddRollsBack(t *testing.T) {
	cfg := fakeEnv(t, "a", "b", "c")
	writeConf(t, cfg.ConfDir, "1.conflist", confList("one", "a"))
	writeConf(t, cfg.ConfDir, "2.conflist", `{"cniVersion":"1.0.0","name":"two","plugins":[{"type":"b"},{"type":"c","fail":"ADD"}]}`)
	s, err := New(cfg, []string{"one", "two"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := s.Add(context.Background(), "ct1", "/proc/1/ns/net")
	var ae *AddError
	if !errors.As(err, &ae) || res != nil {
		t.Fatalf("Add() = %v, %v; want an *AddError", res, err)
	}
	want := `failed to add network "two" (eth1): plugin type="c" failed (add): c refused ADD`
	if ae.Network != "two" || ae.IfName != "eth1" || err.Error() != want {
		t.Fatalf("Add() error = %q (%+v), want %q", err, ae, want)
	}
	if ae.Cleanup != nil {
		t.Fatalf("cleanup error: %v", ae.Cleanup)
	}
	// The failing network is deleted too, then the one before it.
	expectCalls(t, cfg, "ADD_a_eth0", "ADD_b_eth1", "ADD_c_eth1", "DEL_c_eth1", "DEL_b_eth1", "DEL_a_eth0")
	// libcni cached no result for the failed chain; its DEL still got
	// what b had returned, so b can find what it made.
	stdin := pluginFile(t, cfg, "stdin.DEL.b")
	if !strings.Contains(string(stdin), `"prevResult":{`) || !strings.Contains(string(stdin), `"address":"10.9.0.2/24"`) {
		t.Fatalf("rollback DEL of b got no prevResult: %s", stdin)
	}
}

func TestDelAttemptsEverything(t *testing.T) {
	cfg := fakeEnv(t, "a", "b", "c")
	writeConf(t, cfg.ConfDir, "1.conflist", `{"cniVersion":"1.0.0","name":"one","plugins":[{"type":"a"},{"type":"b","fail":"DEL"}]}`)
	writeConf(t, cfg.ConfDir, "2.conflist", `{"cniVersion":"1.0.0","name":"two","plugins":[{"type":"c","fail":"DEL"}]}`)
	s, err := New(cfg, []string{"one", "two"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Add(context.Background(), "ct1", "/proc/1/ns/net"); err != nil {
		t.Fatal(err)
	}
	err = s.Del(context.Background(), "ct1", "/proc/1/ns/net")
	expectCalls(t, cfg, "ADD_a_eth0", "ADD_b_eth0", "ADD_c_eth1", "DEL_c_eth1", "DEL_b_eth0", "DEL_a_eth0")
	want := `failed to delete network "two" (eth1): plugin type="c" failed (delete): c refused DEL` + "\n" +
		`failed to delete network "one" (eth0): plugin type="b" failed (delete): b refused DEL`
	if err == nil || err.Error() != want {
		t.Fatalf("Del() error = %v\nwant %s", err, want)
	}
	// libcni's cached results are gone even so.
	if left, _ := filepath.Glob(filepath.Join(cfg.CacheDir, "results", "*")); len(left) != 0 {
		t.Fatalf("cache left behind: %v", left)
	}
}

func TestAddMissingPlugin(t *testing.T) {
	cfg := fakeEnv(t, "a")
	writeConf(t, cfg.ConfDir, "1.conflist", confList("one", "a", "nosuch"))
	s, err := New(cfg, []string{"one"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.Add(context.Background(), "ct1", "/proc/1/ns/net")
	var ae *AddError
	if !errors.As(err, &ae) || !strings.Contains(err.Error(), `plugin type="nosuch" failed (add): failed to find plugin "nosuch" in path [`) {
		t.Fatalf("Add() error = %v", err)
	}
	// a's DEL still ran although nosuch cannot.
	expectCalls(t, cfg, "ADD_a_eth0", "DEL_a_eth0")
	if ae.Cleanup == nil || !strings.Contains(ae.Cleanup.Error(), `plugin type="nosuch" failed (delete): failed to find plugin "nosuch"`) {
		t.Fatalf("cleanup error = %v", ae.Cleanup)
	}
}

func TestAddTimeout(t *testing.T) {
	cfg := fakeEnv(t, "a", "b")
	cfg.Timeout = 1500 * time.Millisecond
	writeConf(t, cfg.ConfDir, "1.conflist", `{"cniVersion":"1.0.0","name":"one","plugins":[{"type":"a"},{"type":"b","hang":"ADD"}]}`)
	s, err := New(cfg, []string{"one"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = s.Add(context.Background(), "ct1", "/proc/1/ns/net")
	if err == nil || time.Since(start) > 5*time.Second {
		t.Fatalf("Add() = %v after %v, want a timeout", err, time.Since(start))
	}
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), `plugin type="b" failed (add)`) {
		t.Fatalf("Add() error = %v, want the plugin and the deadline named", err)
	}
	expectCalls(t, cfg, "ADD_a_eth0", "ADD_b_eth0", "DEL_b_eth0", "DEL_a_eth0")
}

func TestAddCancelledStillCleansUp(t *testing.T) {
	cfg := fakeEnv(t, "a", "b")
	writeConf(t, cfg.ConfDir, "1.conflist", `{"cniVersion":"1.0.0","name":"one","plugins":[{"type":"a"},{"type":"b","hang":"ADD"}]}`)
	s, err := New(cfg, []string{"one"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel()
	if _, err := s.Add(ctx, "ct1", "/proc/1/ns/net"); err == nil {
		t.Fatal("Add() succeeded with a hanging plugin")
	}
	expectCalls(t, cfg, "ADD_a_eth0", "ADD_b_eth0", "DEL_b_eth0", "DEL_a_eth0")
}

func TestDetachUsesRecordedConfig(t *testing.T) {
	cfg := fakeEnv(t, "a", "b", "z")
	writeConf(t, cfg.ConfDir, "1.conflist", confList("one", "a", "b+ports"))
	s, err := New(cfg, []string{"one"}, []string{"portmap=8080/udp;IP=10.9.0.7"})
	if err != nil {
		t.Fatal(err)
	}
	res, err := s.Add(context.Background(), "ct1", "/proc/1/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	saved, err := json.Marshal(res)
	if err != nil {
		t.Fatal(err)
	}
	// The administrator edits the network while the container runs.
	writeConf(t, cfg.ConfDir, "1.conflist", confList("one", "z"))

	var loaded Result
	if err := json.Unmarshal(saved, &loaded); err != nil {
		t.Fatal(err)
	}
	if loaded.IP != res.IP || loaded.Attachments[0].NetNS != "/proc/1/ns/net" {
		t.Fatalf("round trip lost data: %s", saved)
	}
	if err := Detach(context.Background(), cfg, loaded.Attachments); err != nil {
		t.Fatalf("Detach() error: %v", err)
	}
	expectCalls(t, cfg, "ADD_a_eth0", "ADD_b_eth0", "DEL_b_eth0", "DEL_a_eth0")
	stdin := pluginFile(t, cfg, "stdin.DEL.b")
	if !strings.Contains(string(stdin), `"portMappings":[{"containerPort":8080,"hostPort":8080,"protocol":"udp"}]`) {
		t.Fatalf("DEL did not get the recorded port mapping: %s", stdin)
	}
	env := pluginFile(t, cfg, "env.DEL")
	if !strings.Contains(string(env), "CNI_ARGS=IgnoreUnknown=1;IP=10.9.0.7") {
		t.Fatalf("DEL did not get the recorded CNI_ARGS: %s", env)
	}
}

func TestNoneDoesNothing(t *testing.T) {
	s, err := New(Config{}, []string{"none"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := s.Add(context.Background(), "ct1", "")
	if err != nil || res.IP != "" || len(res.Attachments) != 0 {
		t.Fatalf("Add() = %+v, %v", res, err)
	}
	if err := s.Del(context.Background(), "ct1", ""); err != nil {
		t.Fatalf("Del() = %v", err)
	}
}

func TestAddDelRefuseBadIDs(t *testing.T) {
	cfg := fakeEnv(t, "a")
	writeConf(t, cfg.ConfDir, "1.conflist", confList("one", "a"))
	s, err := New(cfg, []string{"one"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ id, ns, wantErr string }{
		{"", "/proc/1/ns/net", `invalid container ID "": missing containerID`},
		{"a b", "/proc/1/ns/net", `invalid container ID "a b": invalid characters in containerID; a b`},
		{"ct1", "", "no network namespace path given"},
	} {
		if _, err := s.Add(context.Background(), tt.id, tt.ns); err == nil || err.Error() != tt.wantErr {
			t.Errorf("Add(%q, %q) error = %v, want %q", tt.id, tt.ns, err, tt.wantErr)
		}
		if err := s.Del(context.Background(), tt.id, tt.ns); err == nil || err.Error() != tt.wantErr {
			t.Errorf("Del(%q, %q) error = %v, want %q", tt.id, tt.ns, err, tt.wantErr)
		}
	}
	expectCalls(t, cfg) // no plugin ran
}
