// Package constructor links the C constructor that enters namespaces (and,
// for joins, execs the requested program) before the Go runtime starts; see
// nsenter.c. Importing it is all a binary needs; package nsenter builds the
// requests.
package constructor

/*
#cgo CFLAGS: -Wall -Werror
*/
import "C"
