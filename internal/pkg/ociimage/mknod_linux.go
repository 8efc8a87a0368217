package ociimage

import "golang.org/x/sys/unix"

func mknodAt(dirfd int, name string, mode uint32, dev int) error {
	return unix.Mknodat(dirfd, name, mode, dev)
}
