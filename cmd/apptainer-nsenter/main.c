// apptainer-nsenter enters namespaces for the runtime and then runs a
// program in them. Go cannot: setns(2) into a mount or PID namespace is
// refused to a multi-threaded process, and every Go program is one. It is
// a small static C program so that a join costs one short exec.
//
// The request comes in the environment variable _APPTAINER_NSENTER:
//   "fork;exec=3;cgroup.procs=PATH;user=/proc/123/ns/user;cgroup=...;ipc=...;uts=...;net=...;pid=...;mnt=..."
// With "cgroup.procs=PATH" the process first moves itself into that cgroup
// (while it still has the host's view and rights), so what it runs counts
// against the instance's limits and dies with it.
// Namespaces are entered in the order given, which the runtime chooses
// (nsenter.Request): those the joined user namespace does not own (the host
// network namespace of a user-namespaced instance) before it, since once in
// it the process has no capability left over them, and those it owns after
// it, the mount namespace last. Every file is opened first. With "fork", the
// process forks after joining, so the child is really inside the joined PID
// namespace; the parent waits, forwards signals sent to it and exits with
// the child's status.
// With "session" too, the child starts a session of its own before it runs
// the program: it leaves the caller's session and controlling terminal, so
// nothing in the instance can push input into the caller's terminal
// (TIOCSTI) or read it through job control's back door. If one of its
// descriptors 0 to 2 is a terminal (the pseudo-terminal the runtime made
// for it, never the caller's), that becomes its controlling terminal.
// With "exec=N", it runs the program described on file descriptor N (see
// nsenter.Exec for the format). Otherwise it execs its own arguments
// (apptainer-nsenter PROGRAM ARGS...) with its environment minus the
// request: how a stage of the runtime starts inside a given namespace.
// With no namespace to join and "exec=N", it only runs the program: how
// the container stage executes a booted init with its seccomp filter.
//
// The seccomp filter of an exec request is compiled and loaded by
// libseccomp (linked statically), with every syscall ABI this kernel runs
// in the filter: a list for x86_64 alone would let the same calls through
// the i386 and x32 entry points.
#define _GNU_SOURCE
#include <errno.h>
#include <grp.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/keyctl.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <seccomp.h>

#define NSENTER_ENV "_APPTAINER_NSENTER"
#define MAX_NS 8
#define MAX_CGROUPS 32

static pid_t child_pid;

// forward passes on a signal sent to this process. Signals the terminal
// sends (SI_KERNEL) reach the child directly, since it is in the same
// process group: forwarding them too would deliver them twice.
static void forward(int sig, siginfo_t *info, void *ctx) {
	(void)ctx;
	if (child_pid > 0 && info->si_code != SI_KERNEL)
		kill(child_pid, sig);
}

static void die(const char *what, const char *arg) {
	fprintf(stderr, "FATAL:   %s %s: %s\n", what, arg, strerror(errno));
	_exit(255);
}

static int ns_flag(const char *name) {
	if (!strcmp(name, "user")) return CLONE_NEWUSER;
	if (!strcmp(name, "cgroup")) return CLONE_NEWCGROUP;
	if (!strcmp(name, "ipc")) return CLONE_NEWIPC;
	if (!strcmp(name, "uts")) return CLONE_NEWUTS;
	if (!strcmp(name, "net")) return CLONE_NEWNET;
	if (!strcmp(name, "pid")) return CLONE_NEWPID;
	if (!strcmp(name, "mnt")) return CLONE_NEWNS;
	return -1;
}

// exec_spec is a decoded nsenter.Exec.
struct exec_spec {
	char *cwd, *caps, *search;
	int nnp;
	char **argv, **envp;
	// seccomp_errno is the errno the denied syscalls return, or -1 for no
	// filter; seccomp_deny lists them by name.
	int seccomp_errno;
	char **seccomp_deny;
};

// read_all reads fd to its end into a NUL-terminated buffer.
static char *read_all(int fd, size_t *len) {
	size_t cap = 4096, n = 0;
	char *buf = malloc(cap + 1);
	if (buf == NULL)
		die("out of memory reading", "the exec request");
	for (;;) {
		if (n == cap) {
			cap *= 2;
			buf = realloc(buf, cap + 1);
			if (buf == NULL)
				die("out of memory reading", "the exec request");
		}
		ssize_t r = read(fd, buf + n, cap - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			die("cannot read", "the exec request");
		if (r == 0)
			break;
		n += (size_t)r;
	}
	buf[n] = '\0';
	*len = n;
	return buf;
}

// next_field returns the NUL-terminated field at *pos and moves past it.
static char *next_field(char *buf, size_t len, size_t *pos) {
	if (*pos >= len) {
		errno = EINVAL;
		die("truncated", "exec request");
	}
	char *f = buf + *pos;
	*pos += strlen(f) + 1;
	return f;
}

static char **next_list(char *buf, size_t len, size_t *pos) {
	char *end;
	errno = 0;
	long count = strtol(next_field(buf, len, pos), &end, 10);
	if (errno != 0 || *end != '\0' || count < 0 || count > 1 << 20) {
		errno = EINVAL;
		die("bad list length in", "exec request");
	}
	char **list = calloc((size_t)count + 1, sizeof(char *));
	if (list == NULL)
		die("out of memory reading", "the exec request");
	for (long i = 0; i < count; i++)
		list[i] = next_field(buf, len, pos);
	return list;
}

static void read_spec(int fd, struct exec_spec *spec) {
	size_t len, pos = 0;
	char *buf = read_all(fd, &len);
	close(fd);
	spec->cwd = next_field(buf, len, &pos);
	spec->nnp = strcmp(next_field(buf, len, &pos), "1") == 0;
	spec->caps = next_field(buf, len, &pos);
	spec->search = next_field(buf, len, &pos);
	spec->argv = next_list(buf, len, &pos);
	spec->envp = next_list(buf, len, &pos);
	char *errno_field = next_field(buf, len, &pos);
	spec->seccomp_errno = -1;
	if (strcmp(errno_field, "-") != 0) {
		char *end;
		errno = 0;
		long e = strtol(errno_field, &end, 10);
		if (errno != 0 || *end != '\0' || e < 1 || e > 4095) {
			errno = EINVAL;
			die("bad seccomp errno in", "exec request");
		}
		spec->seccomp_errno = (int)e;
	}
	spec->seccomp_deny = next_list(buf, len, &pos);
	if (spec->argv[0] == NULL) {
		errno = EINVAL;
		die("no command in", "exec request");
	}
}

static int last_cap(void) {
	int last = CAP_LAST_CAP;
	FILE *f = fopen("/proc/sys/kernel/cap_last_cap", "re");
	if (f != NULL) {
		if (fscanf(f, "%d", &last) != 1)
			last = CAP_LAST_CAP;
		fclose(f);
	}
	return last > 63 ? 63 : last;
}

// set_caps makes mask the bounding, permitted, effective, inheritable and
// ambient set, after checking that every capability in it is permitted.
static void set_caps(uint64_t mask) {
	struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
	struct __user_cap_data_struct data[2];
	if (syscall(SYS_capget, &hdr, data) < 0)
		die("cannot read", "capabilities");
	uint64_t permitted = (uint64_t)data[1].permitted << 32 | data[0].permitted;
	if ((mask & ~permitted) != 0) {
		fprintf(stderr, "FATAL:   capabilities %#llx are not in the permitted set of the joined process\n",
			(unsigned long long)(mask & ~permitted));
		_exit(255);
	}
	int last = last_cap();
	for (int c = 0; c <= last; c++) {
		if (mask & (1ULL << c))
			continue;
		if (prctl(PR_CAPBSET_DROP, c, 0, 0, 0) < 0 && errno != EINVAL)
			die("cannot drop a capability from", "the bounding set");
	}
	for (int i = 0; i < 2; i++) {
		uint32_t half = (uint32_t)(mask >> (32 * i));
		data[i].effective = data[i].permitted = data[i].inheritable = half;
	}
	if (syscall(SYS_capset, &hdr, data) < 0)
		die("cannot set", "capabilities");
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0)
		die("cannot clear", "the ambient capabilities");
	for (int c = 0; c <= last; c++) {
		if ((mask & (1ULL << c)) && prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, c, 0, 0) < 0)
			die("cannot raise", "an ambient capability");
	}
	// Dropping from the bounding set needs CAP_SETPCAP: verify it happened.
	for (int c = 0; c <= last; c++) {
		if (!(mask & (1ULL << c)) && prctl(PR_CAPBSET_READ, c, 0, 0, 0) == 1) {
			errno = EPERM;
			die("cannot drop a capability from", "the bounding set");
		}
	}
}

// find_command resolves a command without a slash in the search path the
// way a shell does: the first regular executable file wins.
static char *find_command(const char *cmd, const char *search) {
	if (strchr(cmd, '/') != NULL)
		return (char *)cmd;
	char *dirs = strdup(search);
	if (dirs == NULL)
		die("out of memory resolving", cmd);
	char *save = NULL;
	for (char *dir = strtok_r(dirs, ":", &save); dir; dir = strtok_r(NULL, ":", &save)) {
		char *path;
		if (asprintf(&path, "%s/%s", dir, cmd) < 0)
			die("out of memory resolving", cmd);
		struct stat st;
		if (stat(path, &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 0111))
			return path;
		free(path);
	}
	fprintf(stderr, "FATAL:   %s: executable file not found in $PATH\n", cmd);
	_exit(255);
}

// seccomp_fail reports a libseccomp error (a negative errno).
static void seccomp_fail(const char *what, const char *arg, int rc) {
	errno = -rc;
	die(what, arg);
}

// apply_seccomp loads the filter of spec: every listed syscall fails with
// spec->seccomp_errno, everything else is allowed. It runs while the
// process still has CAP_SYS_ADMIN in its user namespace, so the filter
// needs no no_new_privs (which would break setuid programs in the
// instance); a name this libseccomp does not know is left out, as the
// kernel it was built for has no such call either.
static void apply_seccomp(const struct exec_spec *spec) {
	if (spec->seccomp_errno < 0)
		return;
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
	if (ctx == NULL) {
		errno = ENOMEM;
		die("cannot create", "a seccomp filter");
	}
	int rc = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0);
	if (rc < 0)
		seccomp_fail("cannot configure", "the seccomp filter", rc);
	uint32_t native = seccomp_arch_native();
	uint32_t others[2] = {0, 0};
	if (native == SCMP_ARCH_X86_64) {
		others[0] = SCMP_ARCH_X86;
		others[1] = SCMP_ARCH_X32;
	} else if (native == SCMP_ARCH_AARCH64) {
		others[0] = SCMP_ARCH_ARM;
	}
	for (int i = 0; i < 2; i++) {
		if (others[i] != 0 && (rc = seccomp_arch_add(ctx, others[i])) < 0 && rc != -EEXIST)
			seccomp_fail("cannot add an architecture to", "the seccomp filter", rc);
	}
	for (char **name = spec->seccomp_deny; *name != NULL; name++) {
		int nr = seccomp_syscall_resolve_name(*name);
		if (nr == __NR_SCMP_ERROR)
			continue;
		rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(spec->seccomp_errno), nr, 0);
		if (rc < 0)
			seccomp_fail("cannot add to the seccomp filter the syscall", *name, rc);
	}
	if ((rc = seccomp_load(ctx)) < 0)
		seccomp_fail("cannot load", "the seccomp filter", rc);
	seccomp_release(ctx);
}

// leave_caller drops what the program would otherwise inherit from
// whoever started the runtime: every descriptor above 2 (a directory open
// outside the instance would be a way out of it), and the session keyring
// (root's keys), replaced by a fresh anonymous one. It runs before the
// seccomp filter, which refuses keyctl.
static void leave_caller(void) {
	if (syscall(SYS_close_range, 3U, ~0U, 0U) < 0) {
		for (int fd = 3; fd < 1024; fd++)
			close(fd);
	}
	if (syscall(SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, NULL) < 0 && errno != ENOSYS) {
		// Both refused with EPERM: a filter over every keyring call, as
		// that of the booted instance a runtime is nested in; it is
		// inherited and stays, so no key can be reached from here on
		// (keyringLeft in internal/pkg/runtime/engine/wait_linux.go).
		if (errno != EPERM || syscall(SYS_keyctl, KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING, 0) >= 0 || errno != EPERM)
			die("cannot join", "a new session keyring");
	}
}

// new_session makes the process the leader of a new session, with a
// terminal among its descriptors 0 to 2 as its controlling terminal.
static void new_session(void) {
	if (setsid() < 0)
		die("cannot start", "a new session");
	for (int fd = 0; fd <= 2; fd++) {
		if (isatty(fd)) {
			if (ioctl(fd, TIOCSCTTY, 0) < 0)
				die("cannot take as controlling terminal", "the instance's pseudo-terminal");
			break;
		}
	}
}

static void run_spec(const struct exec_spec *spec) {
	if (spec->cwd[0] != '\0' && chdir(spec->cwd) < 0 && chdir("/") < 0)
		die("cannot change directory to", "/");
	char *path = find_command(spec->argv[0], spec->search);
	leave_caller();
	apply_seccomp(spec);
	if (strcmp(spec->caps, "-") != 0) {
		char *end;
		errno = 0;
		unsigned long long mask = strtoull(spec->caps, &end, 16);
		if (errno != 0 || *end != '\0') {
			errno = EINVAL;
			die("bad capability mask", spec->caps);
		}
		set_caps(mask);
	}
	if (spec->nnp && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		die("cannot set", "no_new_privs");
	execve(path, spec->argv, spec->envp);
	fprintf(stderr, "FATAL:   exec %s failed: %s\n", path, strerror(errno));
	_exit(255);
}

// run_args execs argv[0] with the environment, which no longer holds the
// request.
static void run_args(char **args) {
	execvp(args[0], args);
	fprintf(stderr, "FATAL:   exec %s failed: %s\n", args[0], strerror(errno));
	_exit(255);
}

int main(int argc, char **argv) {
	const char *req = getenv(NSENTER_ENV);
	if (req == NULL || *req == '\0') {
		fprintf(stderr, "apptainer-nsenter enters namespaces for the apptainer runtime and is not meant to be run directly\n");
		return 2;
	}
	char *copy = strdup(req);
	if (copy == NULL)
		die("out of memory reading", NSENTER_ENV);
	unsetenv(NSENTER_ENV);

	int fds[MAX_NS], flags[MAX_NS], n = 0, do_fork = 0, do_session = 0, exec_fd = -1;
	int procs[MAX_CGROUPS], nprocs = 0;
	const char *names[MAX_NS];
	char *save = NULL;
	for (char *tok = strtok_r(copy, ";", &save); tok; tok = strtok_r(NULL, ";", &save)) {
		if (!strcmp(tok, "fork")) {
			do_fork = 1;
			continue;
		}
		if (!strcmp(tok, "session")) {
			do_session = 1;
			continue;
		}
		if (!strncmp(tok, "exec=", 5)) {
			char *end;
			errno = 0;
			long fd = strtol(tok + 5, &end, 10);
			if (errno != 0 || *end != '\0' || fd < 3 || fd > 1 << 20) {
				errno = EINVAL;
				die("bad exec descriptor in", NSENTER_ENV);
			}
			exec_fd = (int)fd;
			continue;
		}
		if (!strncmp(tok, "cgroup.procs=", 13)) {
			if (nprocs == MAX_CGROUPS) {
				errno = EINVAL;
				die("too many cgroups in", NSENTER_ENV);
			}
			procs[nprocs] = open(tok + 13, O_WRONLY | O_CLOEXEC);
			if (procs[nprocs] < 0)
				die("cannot open the cgroup to join:", tok + 13);
			nprocs++;
			continue;
		}
		char *eq = strchr(tok, '=');
		if (eq == NULL || n == MAX_NS) {
			errno = EINVAL;
			die("bad namespace request", tok);
		}
		*eq = '\0';
		int flag = ns_flag(tok);
		if (flag < 0) {
			errno = EINVAL;
			die("unknown namespace type", tok);
		}
		// Open every file first: after joining the mount namespace the
		// host's /proc paths may no longer resolve.
		int fd = open(eq + 1, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			die("cannot open namespace", eq + 1);
		fds[n] = fd;
		flags[n] = flag;
		names[n] = tok;
		n++;
	}
	for (int i = 0; i < nprocs; i++) {
		if (write(procs[i], "0", 1) != 1)
			die("cannot join the cgroup of", "the instance");
		close(procs[i]);
	}
	int joined_user = 0;
	// Asked before the joins: in the joined user namespace host root is
	// unmapped, and getuid() answers the overflow id.
	int host_root = getuid() == 0;
	for (int i = 0; i < n; i++) {
		if (setns(fds[i], flags[i]) < 0)
			die("cannot join namespace of type", names[i]);
		if (flags[i] == CLONE_NEWUSER)
			joined_user = 1;
		close(fds[i]);
	}
	free(copy);
	// Host root becomes the namespace's root: keeping host uid 0
	// (unmapped inside) would still let the process write host sysctls.
	// An ordinary user's ids are mapped in a namespace the user owns (to
	// themselves, or to root for --fakeroot) and stay as they are.
	if (joined_user && host_root) {
		if (setgroups(0, NULL) < 0 || setresgid(0, 0, 0) < 0 || setresuid(0, 0, 0) < 0)
			die("cannot become root of", "the joined user namespace");
	}
	// Read the program before forking: an error is then reported once, by
	// the process the caller waits for.
	struct exec_spec spec;
	if (exec_fd >= 0)
		read_spec(exec_fd, &spec);
	else if (argc < 2) {
		errno = EINVAL;
		die("nothing to run:", "neither an exec request nor arguments");
	}
	if (!do_fork) {
		if (exec_fd >= 0)
			run_spec(&spec);
		run_args(argv + 1);
	}

	child_pid = fork();
	if (child_pid < 0)
		die("cannot fork into", "the joined PID namespace");
	if (child_pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (do_session)
			new_session();
		if (exec_fd >= 0)
			run_spec(&spec);
		run_args(argv + 1);
	}
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = forward;
	sa.sa_flags = SA_SIGINFO;
	int sigs[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH};
	for (unsigned i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		sigaction(sigs[i], &sa, NULL);
	int status;
	while (waitpid(child_pid, &status, 0) < 0) {
		if (errno != EINTR)
			die("cannot wait for", "the joined process");
	}
	if (WIFSIGNALED(status))
		_exit(128 + WTERMSIG(status));
	_exit(WEXITSTATUS(status));
}
