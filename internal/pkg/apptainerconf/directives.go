package apptainerconf

import (
	"math"
	"strconv"
	"strings"
)

// directive ties one apptainer.conf name to one File field. The table below
// is the only place that knows the mapping: Parse, WriteTo and the tests all
// walk it, so a directive cannot be parsed but not written, or the reverse.
type directive struct {
	name string
	// list directives may repeat: the first occurrence replaces the default,
	// later ones append. Any other directive keeps the last value it is given.
	list bool
	// assign stores value into f. For a list directive, replace is true on
	// the directive's first occurrence in a file. A value the directive does
	// not accept is reported as a *badValue.
	assign func(f *File, value string, replace bool) error
	// render returns the field's value as Parse would read it back, one entry
	// per line; a list renders one entry per element, or one empty entry.
	render func(f *File) []string
}

// badValue says what a directive wanted instead of the value it got; the
// parser adds the file, line, directive and value around it. entry, when
// set, is the one entry of a list value that was refused.
type badValue struct{ want, entry string }

func (e *badValue) Error() string { return "want " + e.want }

// yesNo is a directive holding "yes" or "no" (in any letter case).
func yesNo(name string, field func(*File) *bool) directive {
	return directive{
		name: name,
		assign: func(f *File, value string, _ bool) error {
			switch strings.ToLower(value) {
			case "yes":
				*field(f) = true
			case "no":
				*field(f) = false
			default:
				return &badValue{want: "yes or no"}
			}
			return nil
		},
		render: func(f *File) []string {
			if *field(f) {
				return []string{"yes"}
			}
			return []string{"no"}
		},
	}
}

// number is a directive holding a decimal integer within [low, high]. The
// bounds keep later arithmetic (seconds to a time.Duration, megabytes to
// bytes) from overflowing.
func number(name string, low, high int, field func(*File) *int) directive {
	want := "a whole number from " + strconv.Itoa(low) + " to " + strconv.Itoa(high)
	return directive{
		name: name,
		assign: func(f *File, value string, _ bool) error {
			n, err := strconv.Atoi(value)
			if err != nil || n < low || n > high {
				return &badValue{want: want}
			}
			*field(f) = n
			return nil
		},
		render: func(f *File) []string { return []string{strconv.Itoa(*field(f))} },
	}
}

// text is a directive holding free text; it may be empty. check, if not
// nil, vets a non-empty value.
func text(name string, check func(string) error, field func(*File) *string) directive {
	return directive{
		name: name,
		assign: func(f *File, value string, _ bool) error {
			if value != "" && check != nil {
				if err := check(value); err != nil {
					return err
				}
			}
			*field(f) = value
			return nil
		},
		render: func(f *File) []string { return []string{*field(f)} },
	}
}

// oneOf is a directive holding one of a fixed set of lower-case words; the
// value is matched without regard to case and stored in lower case.
func oneOf(name string, allowed []string, field func(*File) *string) directive {
	want := strings.Join(allowed[:len(allowed)-1], ", ") + " or " + allowed[len(allowed)-1]
	return directive{
		name: name,
		assign: func(f *File, value string, _ bool) error {
			v := strings.ToLower(value)
			for _, a := range allowed {
				if v == a {
					*field(f) = a
					return nil
				}
			}
			return &badValue{want: want}
		},
		render: func(f *File) []string { return []string{*field(f)} },
	}
}

// list is a repeatable directive holding comma-separated entries. Blank
// entries are dropped, so "bind path =" on its own clears the default list.
// check, if not nil, vets each entry.
func list(name string, check func(string) error, field func(*File) *[]string) directive {
	return directive{
		name: name,
		list: true,
		assign: func(f *File, value string, replace bool) error {
			var entries []string
			for _, e := range strings.Split(value, ",") {
				if e = strings.TrimSpace(e); e == "" {
					continue
				}
				if check != nil {
					if err := check(e); err != nil {
						return err
					}
				}
				entries = append(entries, e)
			}
			if replace {
				*field(f) = entries
			} else {
				*field(f) = append(*field(f), entries...)
			}
			return nil
		},
		render: func(f *File) []string {
			if len(*field(f)) == 0 {
				return []string{""}
			}
			return append([]string(nil), *field(f)...)
		},
	}
}

// maxInt32 bounds counts and sizes that have no natural limit of their own.
const maxInt32 = math.MaxInt32

// directives lists every directive in the order WriteTo writes them, which
// is also the order of the shipped template.
var directives = []directive{
	yesNo("allow setuid", func(f *File) *bool { return &f.AllowSetuid }),
	oneOf("root default capabilities", []string{CapsFull, CapsFile, CapsNo},
		func(f *File) *string { return &f.RootDefaultCapabilities }),
	yesNo("allow ipc ns", func(f *File) *bool { return &f.AllowIpcNs }),
	yesNo("allow pid ns", func(f *File) *bool { return &f.AllowPidNs }),
	yesNo("allow user ns", func(f *File) *bool { return &f.AllowUserNs }),
	yesNo("allow uts ns", func(f *File) *bool { return &f.AllowUtsNs }),

	number("max loop devices", 0, maxInt32, func(f *File) *int { return &f.MaxLoopDevices }),
	yesNo("shared loop devices", func(f *File) *bool { return &f.SharedLoopDevices }),

	yesNo("config passwd", func(f *File) *bool { return &f.ConfigPasswd }),
	yesNo("config group", func(f *File) *bool { return &f.ConfigGroup }),
	yesNo("config resolv_conf", func(f *File) *bool { return &f.ConfigResolvConf }),

	yesNo("mount proc", func(f *File) *bool { return &f.MountProc }),
	yesNo("mount sys", func(f *File) *bool { return &f.MountSys }),
	oneOf("mount dev", []string{MountDevYes, MountDevNo, MountDevMinimal},
		func(f *File) *string { return &f.MountDev }),
	yesNo("mount devpts", func(f *File) *bool { return &f.MountDevPts }),
	yesNo("mount home", func(f *File) *bool { return &f.MountHome }),
	yesNo("mount tmp", func(f *File) *bool { return &f.MountTmp }),
	yesNo("mount hostfs", func(f *File) *bool { return &f.MountHostfs }),
	list("bind path", bindSpec, func(f *File) *[]string { return &f.BindPath }),
	yesNo("user bind control", func(f *File) *bool { return &f.UserBindControl }),
	yesNo("enable fusemount", func(f *File) *bool { return &f.EnableFusemount }),
	oneOf("enable overlay", []string{OverlayYes, OverlayNo, OverlayTry, OverlayDriver},
		func(f *File) *string { return &f.EnableOverlay }),
	oneOf("enable underlay", []string{UnderlayYes, UnderlayNo, UnderlayPreferred},
		func(f *File) *string { return &f.EnableUnderlay }),
	yesNo("tmp sandbox", func(f *File) *bool { return &f.TmpSandbox }),
	yesNo("mount slave", func(f *File) *bool { return &f.MountSlave }),
	number("sessiondir max size", 0, maxInt32, func(f *File) *int { return &f.SessiondirMaxSize }),
	oneOf("memory fs type", []string{MemoryFSTmpfs, MemoryFSRamfs},
		func(f *File) *string { return &f.MemoryFSType }),

	list("limit container owners", nil, func(f *File) *[]string { return &f.LimitContainerOwners }),
	list("limit container groups", nil, func(f *File) *[]string { return &f.LimitContainerGroups }),
	list("limit container paths", absolutePath, func(f *File) *[]string { return &f.LimitContainerPaths }),
	yesNo("allow container sif", func(f *File) *bool { return &f.AllowContainerSIF }),
	yesNo("allow container encrypted", func(f *File) *bool { return &f.AllowContainerEncrypted }),
	yesNo("allow container squashfs", func(f *File) *bool { return &f.AllowContainerSquashfs }),
	yesNo("allow container extfs", func(f *File) *bool { return &f.AllowContainerExtfs }),
	yesNo("allow container dir", func(f *File) *bool { return &f.AllowContainerDir }),
	yesNo("allow setuid-mount encrypted", func(f *File) *bool { return &f.AllowSetuidMountEncrypted }),
	oneOf("allow setuid-mount squashfs", []string{SetuidMountYes, SetuidMountNo, SetuidMountIfLimited},
		func(f *File) *string { return &f.AllowSetuidMountSquashfs }),
	yesNo("allow setuid-mount extfs", func(f *File) *bool { return &f.AllowSetuidMountExtfs }),

	list("allow net users", nil, func(f *File) *[]string { return &f.AllowNetUsers }),
	list("allow net groups", nil, func(f *File) *[]string { return &f.AllowNetGroups }),
	list("allow net networks", nil, func(f *File) *[]string { return &f.AllowNetNetworks }),
	list("allow netns paths", absolutePath, func(f *File) *[]string { return &f.AllowNetnsPaths }),
	text("cni configuration path", absolutePath, func(f *File) *string { return &f.CNIConfPath }),
	text("cni plugin path", absolutePath, func(f *File) *string { return &f.CNIPluginPath }),

	yesNo("allow boot hostnet", func(f *File) *bool { return &f.AllowBootHostnet }),
	list("allow boot hostnet users", nil, func(f *File) *[]string { return &f.AllowBootHostnetUsers }),
	list("allow boot hostnet groups", nil, func(f *File) *[]string { return &f.AllowBootHostnetGroups }),
	list("boot hostnet mask units", unitName, func(f *File) *[]string { return &f.BootHostnetMaskUnits }),
	oneOf("boot hostnet guard", guardModes,
		func(f *File) *string { return &f.BootHostnetGuard }),
	// One day is far beyond any boot, and keeps seconds*time.Second small.
	number("boot timeout", 1, 86400, func(f *File) *int { return &f.BootTimeout }),
	number("boot console log size", 0, 65536, func(f *File) *int { return &f.BootConsoleLogSize }),
	oneOf("boot hostnet userns", []string{UsernsYes, UsernsOptional, UsernsNo},
		func(f *File) *string { return &f.BootHostnetUserns }),

	text("binary path", nil, func(f *File) *string { return &f.BinaryPath }),
	yesNo("always use nv", func(f *File) *bool { return &f.AlwaysUseNv }),
	yesNo("use nvidia-container-cli", func(f *File) *bool { return &f.UseNvidiaContainerCli }),
	yesNo("always use rocm", func(f *File) *bool { return &f.AlwaysUseRocm }),
	yesNo("systemd cgroups", func(f *File) *bool { return &f.SystemdCgroups }),
	number("mksquashfs procs", 0, maxInt32, func(f *File) *int { return &f.MksquashfsProcs }),
	text("mksquashfs mem", nil, func(f *File) *string { return &f.MksquashfsMem }),
	text("image driver", nil, func(f *File) *string { return &f.ImageDriver }),
	number("download concurrency", 0, maxInt32, func(f *File) *int { return &f.DownloadConcurrency }),
	number("download part size", 0, maxInt32, func(f *File) *int { return &f.DownloadPartSize }),
	number("download buffer size", 0, maxInt32, func(f *File) *int { return &f.DownloadBufferSize }),
	yesNo("allow monitoring", func(f *File) *bool { return &f.AllowMonitoring }),
	text("apptheus socket path", absolutePath, func(f *File) *string { return &f.ApptheusSocketPath }),
}

// aliases maps other spellings found in the wild to a directive's name.
// Upstream's template writes "apptheus socket path" while its parser reads
// "apptheus communication socket path"; accept both so either file works.
var aliases = map[string]string{
	"apptheus communication socket path": "apptheus socket path",
}

// byName indexes directives by their normalised name.
var byName = func() map[string]*directive {
	m := make(map[string]*directive, len(directives)+len(aliases))
	for i := range directives {
		m[directives[i].name] = &directives[i]
	}
	for alias, name := range aliases {
		m[alias] = m[name]
	}
	return m
}()
