// Package engine executes a container config. The runtime re-executes its
// own binary for each stage, with the stage named in the environment
// (StageEnv) so that main dispatches to it before the CLI starts:
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
// exec/run/shell skip the monitor: the CLI itself spawns the container
// stage and waits for it. Joining an instance (exec instance://NAME) starts
// the join stage, whose namespaces are entered by the C constructor in
// package nsenter before the Go runtime starts.
package engine
