/* echoer.c: output and exit status must be the same with and without the
 * profiler: echoes its arguments and stdin, allocating as it goes, and
 * exits with the status named by its first argument. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
	char line[4096];
	for (int i = 1; i < argc; i++) {
		char *copy = strdup(argv[i]);
		printf("arg %d: %s\n", i, copy);
		free(copy);
	}
	unsigned long n = 0;
	while (fgets(line, sizeof line, stdin)) {
		char *p = malloc(strlen(line) + 1);
		strcpy(p, line);
		fputs(p, stdout);
		free(p);
		n++;
	}
	fprintf(stderr, "echoer: %lu lines\n", n);
	return argc > 1 ? atoi(argv[1]) : 0;
}
