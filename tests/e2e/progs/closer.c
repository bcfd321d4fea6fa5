/* closer.c: a daemon-style program that closes every descriptor above
 * stderr while running, then opens a file of its own (which may get the
 * number the profiler's trace had) and writes to it. The profiler must
 * never write into that file. Prints the file's size at the end. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	const char *path = argc > 1 ? argv[1] : "closer.out";
	static char *keep[64];
	for (int i = 0; i < 64; i++) {
		keep[i] = malloc(1 << 20); /* samples: the trace file exists */
		memset(keep[i], 1, 1 << 20);
	}
	struct timespec ts = { 0, 300 * 1000000 };
	nanosleep(&ts, NULL);
	for (int fd = 3; fd < 1024; fd++)
		close(fd);
	/* 16 files: whatever number the trace had is now one of them */
	int fds[16];
	char name[4096];
	for (int k = 0; k < 16; k++) {
		snprintf(name, sizeof name, "%s.%d", path, k);
		fds[k] = open(name, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	}
	for (int r = 0; r < 20; r++) {
		for (int i = 0; i < 64; i++) {
			free(keep[i]);
			keep[i] = malloc((size_t)(1 << 20) + (size_t)r);
			memset(keep[i], 2, 4096);
		}
		for (int k = 0; k < 16; k++)
			if (write(fds[k], "0123456789", 10) != 10)
				return 3;
		nanosleep(&ts, NULL);
	}
	long long total = 0;
	for (int k = 0; k < 16; k++) {
		struct stat st;
		close(fds[k]);
		snprintf(name, sizeof name, "%s.%d", path, k);
		stat(name, &st);
		total += (long long)st.st_size;
	}
	printf("closer: %lld bytes\n", total);
	return 0;
}
