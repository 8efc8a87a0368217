// Package engine executes a container config. Each stage is a re-executed
// runtime binary, with the stage named in the environment (StageEnv) so
// that main dispatches to it before anything else starts. Stages run from
// the small static apptainer-engine binary (EngineBinaryName); a stage
// that must start inside an existing namespace is started through
// apptainer-nsenter (NsenterBinaryName), which enters it first.
//
//	CLI (apptainer instance start)
//	 │  config on fd 3, status pipe on fd 4
//	 ▼
//	monitor  "Apptainer instance: <user> [<name>]"  (host namespaces)
//	 │  creates the instance file, cgroup, notify socket, console pty;
//	 │  clone(NEWNS|NEWPID|NEWUTS|NEWIPC[|NEWNET]) into the cgroup,
//	 │  config on fd 3, sync socket on fd 4
//	 ▼
//	container  (PID 1 of the new PID namespace)
//	    waits on fd 4 for "go" (sent once CNI has configured its network
//	    namespace), unshares its cgroup namespace, builds the root
//	    filesystem, pivots, drops capabilities and execs /sbin/init (or the
//	    shim, or the command). The sync socket is close-on-exec: the
//	    monitor reads EOF on a successful exec, or an error message.
//
// Once the instance runs and the CLI has its result, the monitor
// re-executes itself as the resident monitor (same PID, so PID 1 stays its
// child), which only waits for PID 1 and cleans up (resident_linux.go).
//
// exec/run/shell skip the monitor: the CLI itself spawns the container
// stage and waits for it. Joining an instance (exec instance://NAME)
// execs apptainer-nsenter, which joins the namespaces, forks and execs the
// command (join_linux.go).
package engine
