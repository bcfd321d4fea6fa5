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
	/* As many files as the descriptor limit allows (up to 1100): whatever
	 * number the trace had, high or low, is now one of the program's. */
	static int fds[1100];
	int nf = 0;
	char name[4096];
	while (nf < 1100) {
		snprintf(name, sizeof name, "%s.%d", path, nf);
		int fd = open(name, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (fd < 0)
			break;
		fds[nf++] = fd;
	}
	for (int r = 0; r < 20; r++) {
		for (int i = 0; i < 64; i++) {
			free(keep[i]);
			keep[i] = malloc((size_t)(1 << 20) + (size_t)r);
			memset(keep[i], 2, 4096);
		}
		for (int k = 0; k < nf; k++)
			if (write(fds[k], "0123456789", 10) != 10)
				return 3;
		nanosleep(&ts, NULL);
	}
	long long total = 0;
	for (int k = 0; k < nf; k++) {
		struct stat st;
		close(fds[k]);
		snprintf(name, sizeof name, "%s.%d", path, k);
		stat(name, &st);
		total += (long long)st.st_size;
	}
	if (total != 200LL * nf)
		printf("closer: %lld bytes in %d files, want %lld\n", total, nf, 200LL * nf);
	printf("closer: %d files, 200 bytes each\n", nf > 16 ? 16 : nf);
	return 0;
}
