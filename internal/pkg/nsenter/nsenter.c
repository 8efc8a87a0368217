// Joins namespaces before the Go runtime starts, while the process is still
// single-threaded: setns(2) into a mount or PID namespace is refused to a
// multi-threaded process, and every Go program is one.
//
// The request comes in the environment variable _APPTAINER_NSENTER:
//   "fork;user=/proc/123/ns/user;cgroup=...;ipc=...;uts=...;net=...;pid=...;mnt=..."
// Namespaces are entered in the order given (the mount namespace last, since
// it changes what /proc paths mean). With "fork", the process forks after
// joining, so the child is really inside the joined PID namespace; the parent
// waits, forwards termination signals and exits with the child's status.
#define _GNU_SOURCE
#include <errno.h>
#include <grp.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#define NSENTER_ENV "_APPTAINER_NSENTER"
#define MAX_NS 8

static pid_t child_pid;

static void forward(int sig) {
	if (child_pid > 0)
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

__attribute__((constructor)) static void apptainer_nsenter(void) {
	const char *req = getenv(NSENTER_ENV);
	if (req == NULL || *req == '\0')
		return;
	char *copy = strdup(req);
	if (copy == NULL)
		die("out of memory reading", NSENTER_ENV);
	unsetenv(NSENTER_ENV);

	int fds[MAX_NS], flags[MAX_NS], n = 0, do_fork = 0;
	char *save = NULL;
	for (char *tok = strtok_r(copy, ";", &save); tok; tok = strtok_r(NULL, ";", &save)) {
		if (!strcmp(tok, "fork")) {
			do_fork = 1;
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
		n++;
	}
	int joined_user = 0;
	for (int i = 0; i < n; i++) {
		if (setns(fds[i], flags[i]) < 0)
			die("cannot join namespace of type", flags[i] == CLONE_NEWNS ? "mnt" : "non-mount");
		if (flags[i] == CLONE_NEWUSER)
			joined_user = 1;
		close(fds[i]);
	}
	free(copy);
	if (joined_user) {
		// Become the namespace's root: keeping host uid 0 (unmapped
		// inside) would still let the process write host sysctls.
		if (setgroups(0, NULL) < 0 || setresgid(0, 0, 0) < 0 || setresuid(0, 0, 0) < 0)
			die("cannot become root of", "the joined user namespace");
	}
	if (!do_fork)
		return;

	child_pid = fork();
	if (child_pid < 0)
		die("cannot fork into", "the joined PID namespace");
	if (child_pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		return;
	}
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = forward;
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
