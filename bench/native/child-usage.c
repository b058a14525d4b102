/*
 * child-usage REPORT COMMAND [ARG...]: runs COMMAND as a child, as the kubelet does (fork, exec,
 * wait), and writes to REPORT one line "wall_us user_us sys_us exit": the wall time from fork to
 * the end of wait4, and the CPU time wait4 reports for the child and every descendant it waited
 * for (a driver's blkid, mount...). Exits with the child's status.
 */
#include <stdio.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static long micros(struct timeval t) { return t.tv_sec * 1000000L + t.tv_usec; }

int main(int argc, char **argv) {
	if (argc < 3) {
		fprintf(stderr, "usage: child-usage REPORT COMMAND [ARG...]\n");
		return 125;
	}
	struct timespec start, end;
	clock_gettime(CLOCK_MONOTONIC, &start);
	pid_t pid = fork();
	if (pid < 0) return 126;
	if (pid == 0) {
		execvp(argv[2], argv + 2);
		_exit(127);
	}
	int status;
	struct rusage usage;
	if (wait4(pid, &status, 0, &usage) < 0) return 126;
	clock_gettime(CLOCK_MONOTONIC, &end);
	int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
	long wall = (end.tv_sec - start.tv_sec) * 1000000L + (end.tv_nsec - start.tv_nsec) / 1000L;
	FILE *report = fopen(argv[1], "w");
	if (report == NULL) return 126;
	fprintf(report, "%ld %ld %ld %d\n", wall, micros(usage.ru_utime), micros(usage.ru_stime), code);
	fclose(report);
	return code;
}
