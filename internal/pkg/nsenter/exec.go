package nsenter

import (
	"errors"
	"strconv"
	"strings"
)

// Exec is a program apptainer-nsenter executes once it is inside the
// namespaces, with exactly these arguments, environment, directory and
// credentials. It is encoded as NUL-terminated fields, which C reads
// without a parser:
//
//	cwd, no_new_privs ("0"/"1"), caps ("-" or a hex mask), search path,
//	argc, argv..., envc, envp..., seccomp errno ("-" for no filter),
//	count, denied syscall names...
type Exec struct {
	Args []string
	Env  []string
	// Cwd is the working directory; "/" is used when it does not exist.
	Cwd string
	// Search is the PATH searched for Args[0] when it has no slash.
	Search string
	// Caps, when not nil, is the capability set the program keeps (bit n
	// is capability n): bounding, permitted, effective, inheritable and
	// ambient are all set to it.
	Caps       *uint64
	NoNewPrivs bool
	// Seccomp, when set, is the seccomp filter the program runs under.
	Seccomp *Seccomp
}

// Seccomp is a seccomp filter of the one shape the runtime uses: every
// syscall is allowed but those named in Deny, which fail with Errno.
// apptainer-nsenter compiles it with libseccomp, for every syscall ABI of
// the machine.
type Seccomp struct {
	Errno int
	Deny  []string
}

// Encode returns the wire form of e. NUL bytes cannot appear in a C string;
// they are refused rather than silently splitting a field.
func (e Exec) Encode() ([]byte, error) {
	if len(e.Args) == 0 {
		return nil, errors.New("no command to run")
	}
	caps := "-"
	if e.Caps != nil {
		caps = strconv.FormatUint(*e.Caps, 16)
	}
	nnp := "0"
	if e.NoNewPrivs {
		nnp = "1"
	}
	fields := []string{e.Cwd, nnp, caps, e.Search, strconv.Itoa(len(e.Args))}
	fields = append(fields, e.Args...)
	fields = append(fields, strconv.Itoa(len(e.Env)))
	fields = append(fields, e.Env...)
	if e.Seccomp == nil {
		fields = append(fields, "-", "0")
	} else {
		if e.Seccomp.Errno < 1 || e.Seccomp.Errno > 4095 {
			return nil, errors.New("invalid seccomp errno " + strconv.Itoa(e.Seccomp.Errno))
		}
		for _, name := range e.Seccomp.Deny {
			if !validSyscallName(name) {
				return nil, errors.New("invalid syscall name " + strconv.Quote(name))
			}
		}
		fields = append(fields, strconv.Itoa(e.Seccomp.Errno), strconv.Itoa(len(e.Seccomp.Deny)))
		fields = append(fields, e.Seccomp.Deny...)
	}
	var b strings.Builder
	for _, f := range fields {
		if strings.IndexByte(f, 0) >= 0 {
			return nil, errors.New("a command argument or environment entry contains a NUL byte")
		}
		b.WriteString(f)
		b.WriteByte(0)
	}
	return []byte(b.String()), nil
}

// validSyscallName accepts the names syscalls have: lower-case letters,
// digits and underscores.
func validSyscallName(name string) bool {
	if name == "" {
		return false
	}
	for _, c := range name {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}
