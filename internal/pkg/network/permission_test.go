package network

import (
	"errors"
	"reflect"
	"testing"
)

var (
	alice = Caller{UID: 1000, User: "alice", GIDs: []int{1000, 27}, Groups: []string{"alice", "sudo"}}
	root  = Caller{UID: 0, User: "root", GIDs: []int{0}, Groups: []string{"root"}}
)

const netnsPath = "/run/netns/lab"

func TestCheckNetnsPermission(t *testing.T) {
	notAllowedPath := `"` + netnsPath + `" is not an allowed netns path in singularity.conf`
	notPermitted := "you are not permitted to join network namespaces in apptainer.conf"
	tests := []struct {
		name    string
		caller  Caller
		allow   Allow
		wantErr string
	}{
		{name: "root needs nothing", caller: root},
		{name: "user by name", caller: alice, allow: Allow{NetUsers: []string{"bob", "alice"}, NetnsPaths: []string{netnsPath}}},
		{name: "user by uid", caller: alice, allow: Allow{NetUsers: []string{"1000"}, NetnsPaths: []string{netnsPath}}},
		{name: "group by name", caller: alice, allow: Allow{NetGroups: []string{"sudo"}, NetnsPaths: []string{netnsPath}}},
		{name: "group by gid", caller: alice, allow: Allow{NetGroups: []string{"27"}, NetnsPaths: []string{netnsPath}}},
		{name: "blanks around entries", caller: alice, allow: Allow{NetUsers: []string{" alice "}, NetnsPaths: []string{" " + netnsPath}}},
		{name: "nothing configured", caller: alice, wantErr: notAllowedPath},
		{name: "path must match exactly", caller: alice, allow: Allow{NetUsers: []string{"alice"}, NetnsPaths: []string{netnsPath + "/"}}, wantErr: notAllowedPath},
		{name: "path checked before user", caller: alice, allow: Allow{NetnsPaths: []string{"/run/netns/other"}}, wantErr: notAllowedPath},
		{name: "user not listed", caller: alice, allow: Allow{NetUsers: []string{"bob", "1001"}, NetGroups: []string{"wheel", "10"}, NetnsPaths: []string{netnsPath}}, wantErr: notPermitted},
		{name: "empty user name matches nothing", caller: Caller{UID: 5}, allow: Allow{NetUsers: []string{""}, NetnsPaths: []string{netnsPath}}, wantErr: notPermitted},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkPermissionErr(t, CheckNetnsPermission(netnsPath, tt.caller, tt.allow), tt.wantErr, nil)
		})
	}
}

func TestCheckNetworksPermission(t *testing.T) {
	const refused = "network requires root or a suid installation with /etc/subuid --fakeroot; non-root users can only use --network=none unless permitted by the administrator"
	users := Allow{NetUsers: []string{"alice"}, NetNetworks: []string{"bridge", "ptp"}}
	tests := []struct {
		name       string
		networks   []string
		caller     Caller
		allow      Allow
		wantErr    string
		wantDenied []string
	}{
		{name: "root", networks: []string{"bridge"}, caller: root},
		{name: "none for anyone", networks: []string{"none"}, caller: alice},
		{name: "no network", caller: alice},
		{name: "allowed user and networks", networks: []string{"ptp", "bridge"}, caller: alice, allow: users},
		{name: "allowed group", networks: []string{"bridge"}, caller: alice, allow: Allow{NetGroups: []string{"1000"}, NetNetworks: []string{"bridge"}}},
		{name: "user not listed", networks: []string{"bridge"}, caller: alice, allow: Allow{NetUsers: []string{"bob"}, NetNetworks: []string{"bridge"}}, wantErr: refused},
		{name: "no networks allowed", networks: []string{"bridge"}, caller: alice, allow: Allow{NetUsers: []string{"alice"}}, wantErr: refused, wantDenied: []string{"bridge"}},
		{name: "one of several refused", networks: []string{"bridge", "macvlan", "ipvlan"}, caller: alice, allow: users, wantErr: refused, wantDenied: []string{"macvlan", "ipvlan"}},
		{name: "none among others is a network name", networks: []string{"bridge", "none"}, caller: alice, allow: users, wantErr: refused, wantDenied: []string{"none"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkPermissionErr(t, CheckNetworksPermission(tt.networks, tt.caller, tt.allow), tt.wantErr, tt.wantDenied)
		})
	}
}

func checkPermissionErr(t *testing.T, err error, wantErr string, wantDenied []string) {
	t.Helper()
	if wantErr == "" {
		if err != nil {
			t.Fatalf("unexpected error: %v", err)
		}
		return
	}
	var pe *PermissionError
	if !errors.As(err, &pe) {
		t.Fatalf("error = %v (%T), want a *PermissionError", err, err)
	}
	if pe.Error() != wantErr {
		t.Fatalf("error = %q, want %q", pe.Error(), wantErr)
	}
	if !reflect.DeepEqual(pe.Denied, wantDenied) {
		t.Fatalf("Denied = %v, want %v", pe.Denied, wantDenied)
	}
	var lines []string
	for _, n := range wantDenied {
		lines = append(lines, "Network "+n+" is not permitted for unprivileged users.")
	}
	if got := pe.DeniedMessages(); len(got) != len(lines) || (len(lines) > 0 && !reflect.DeepEqual(got, lines)) {
		t.Fatalf("DeniedMessages() = %q, want %q", got, lines)
	}
}
