/*
 * Running a program with a deadline: challenge_mode = exec and
 * hook_command both go through exec_program.
 */
#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "server/common/common.h"

static long
ms_since(const struct timespec *t0)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (now.tv_sec - t0->tv_sec) * 1000 +
	    (now.tv_nsec - t0->tv_nsec) / 1000000;
}

/* Everything the child needs is built before fork: it only dup2s and execs. */
int
exec_program(const char *program, char *const envp[], const char *input,
    int timeout, char *reason, size_t cap)
{
	char *argv[] = { (char *)program, NULL };
	char out[EXEC_MAX_REASON + 1];
	size_t in_len = strlen(input), in_off = 0, out_len = 0;
	int in[2] = { -1, -1 }, outp[2] = { -1, -1 }, status = 0, ret = EXEC_ERROR;
	struct timespec t0;
	long max_fd;
	pid_t pid = -1;

	snprintf(reason, cap, "cannot be run");
	if (pipe(in) != 0 || pipe(outp) != 0)
		goto out;
	/* Other threads may fork too: keep these out of their children. */
	for (int i = 0; i < 2; i++) {
		fcntl(in[i], F_SETFD, FD_CLOEXEC);
		fcntl(outp[i], F_SETFD, FD_CLOEXEC);
	}
	max_fd = sysconf(_SC_OPEN_MAX);
	if (max_fd < 0 || max_fd > 65536)
		max_fd = 65536;
	if ((pid = fork()) < 0)
		goto out;
	if (pid == 0) {
		if (dup2(in[0], 0) < 0 || dup2(outp[1], 1) < 0)
			_exit(126);
		/* Nothing of scepd's (ledger, sockets) reaches the program. */
		for (long fd = 3; fd < max_fd; fd++)
			close((int)fd);
		execve(program, argv, envp);
		_exit(127);
	}
	close(in[0]);
	close(outp[1]);
	in[0] = outp[1] = -1;
	/* Feed stdin, read stdout, until it closes or time runs out. */
	clock_gettime(CLOCK_MONOTONIC, &t0);
	fcntl(in[1], F_SETFL, O_NONBLOCK);
	for (;;) {
		struct pollfd fds[2];
		int nfds = 0, left = (int)(timeout * 1000L - ms_since(&t0));

		if (left <= 0) {
			snprintf(reason, cap, "timed out");
			goto out;
		}
		fds[nfds].fd = outp[0];
		fds[nfds++].events = POLLIN;
		if (in[1] >= 0) {
			fds[nfds].fd = in[1];
			fds[nfds++].events = POLLOUT;
		}
		if (poll(fds, (nfds_t)nfds, left) < 0 && errno != EINTR)
			goto out;
		if (nfds == 2 && (fds[1].revents & (POLLOUT | POLLERR | POLLHUP))) {
			ssize_t w = write(in[1], input + in_off, in_len - in_off);

			if (w > 0)
				in_off += (size_t)w;
			if (w < 0 || in_off == in_len) {
				close(in[1]);
				in[1] = -1;
			}
		}
		if (fds[0].revents & (POLLIN | POLLHUP | POLLERR)) {
			char buf[512];
			ssize_t n = read(outp[0], buf, sizeof(buf));

			if (n <= 0)
				break;
			if (out_len < EXEC_MAX_REASON) {
				size_t take = (size_t)n;

				if (take > EXEC_MAX_REASON - out_len)
					take = EXEC_MAX_REASON - out_len;
				memcpy(out + out_len, buf, take);
				out_len += take;
			}
		}
	}
	while (waitpid(pid, &status, WNOHANG) == 0) {
		if (ms_since(&t0) > timeout * 1000L) {
			snprintf(reason, cap, "timed out");
			goto out;
		}
		usleep(10000);
	}
	pid = -1;
	out[out_len] = '\0';
	out[strcspn(out, "\r\n")] = '\0';
	if (WIFEXITED(status) && WEXITSTATUS(status) == 127) {
		snprintf(reason, cap, "cannot be run");
		goto out;
	}
	ret = WIFEXITED(status) && WEXITSTATUS(status) == 0 ? EXEC_ALLOW : EXEC_DENY;
	snprintf(reason, cap, "%s", out);
out:
	if (pid > 0) {
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
	}
	for (int i = 0; i < 2; i++) {
		if (in[i] >= 0)
			close(in[i]);
		if (outp[i] >= 0)
			close(outp[i]);
	}
	return ret;
}
