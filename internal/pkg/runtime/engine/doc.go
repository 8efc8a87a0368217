// Package engine executes a container config. Each stage is a re-executed
// runtime binary, with the stage named in the environment (StageEnv) so
// that main dispatches to it before anything else starts. Stages run from
// the small static apptainer-engine binary (EngineBinaryName); a stage
// that must start inside an existing namespace is started through
// apptainer-nsenter (NsenterBinaryName), which enters it first.
//
//	CLI (apptainer instance start)
//	 │  config on fd 3, status pipe on fd 4 (progress, error, result)
//	 ▼
//	monitor  "Apptainer instance: <user> [<name>]"  (host namespaces,
//	 │        its own session)
//	 │  claims the runtime directory and writes its record there
//	 │  (record_linux.go), then the instance file; makes the cgroup,
//	 │  notify socket, console pty; for a user namespace, allocates an id
//	 │  range and delegates the cgroup and console to it;
//	 │  clone(NEWNS|NEWPID|NEWUTS|NEWIPC[|NEWNET][|NEWUSER with the id
//	 │  map]) into the cgroup, config on fd 3, sync socket on fd 4
//	 ▼
//	container  (PID 1 of the new PID namespace)
//	    waits on fd 4 for the go message (sent once CNI has configured its network
//	    namespace and the guard has its baseline). With a user namespace,
//	    the container is cloned into the monitor's own mount namespace, in
//	    which the monitor then builds the root file system; after go the
//	    container copies that namespace (unshare) from inside its user
//	    namespace, which locks every mount's flags (rootfs_linux.go).
//	    Without one, it builds its root itself. It unshares its cgroup
//	    namespace, pivots, drops capabilities and execs /sbin/init (or the
//	    shim, or the command) through apptainer-nsenter, which closes every
//	    descriptor above 2, joins a new session keyring and loads the
//	    seccomp filter. The stage announces the exec with an exec message;
//	    the sync socket is close-on-exec, so the monitor then reads EOF on
//	    a successful exec, or an error message. Both channels carry the
//	    typed messages of sync_linux.go.
//
// Once the instance runs and the CLI has its result, the monitor
// re-executes itself as the resident monitor (same PID, so PID 1 stays its
// child), which only waits for PID 1 and cleans up (resident_linux.go).
//
// exec/run/shell skip the monitor: the CLI itself spawns the container
// stage and waits for it. Joining an instance (exec instance://NAME)
// execs apptainer-nsenter, which joins the namespaces, forks and execs the
// command in a session of its own (join_linux.go); when the caller has a
// terminal, the CLI runs it on a pseudo-terminal of its own and relays
// (jointerm_linux.go). What the CLI acts on comes from the monitor's record,
// never from the instance file alone (record_linux.go).
package engine
