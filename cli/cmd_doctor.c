/*
 * cmd_doctor.c: `peaktrace doctor [--python PYTHON]`
 *
 * Runs the runtime's start-up environment checks by hand, inside a real
 * preloaded process (PEAKTRACE_DOCTOR=1 makes the runtime's constructor run
 * them verbosely and exit), so the answer is the one a profiled job would
 * get. With --python, the process is that interpreter, so the Python checks
 * run too. Exit status 0 when every check passes, 1 otherwise.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli/cli.h"

int pt_cmd_doctor(int argc, char **argv)
{
	const char *python = NULL;
	for (int i = 1; i < argc; i++) {
		if (pt_cli_is_help(argv[i])) {
			puts("usage: peaktrace doctor [--python PYTHON]\n"
			     "\n"
			     "Runs the start-up environment checks of the profiler inside a\n"
			     "preloaded process and prints one line per check. --python runs\n"
			     "them inside that interpreter, so its version is checked too.\n"
			     "Exit status 0 when all pass, 1 otherwise.");
			return PT_EXIT_OK;
		}
		if (!strcmp(argv[i], "--python")) {
			if (i + 1 >= argc)
				return pt_cli_usage_error("doctor", "option '--python' needs a value");
			python = argv[++i];
		} else {
			return pt_cli_unknown_option("doctor", argv[i]);
		}
	}
	char lib[PATH_MAX];
	if (pt_cli_find_lib(lib, sizeof lib) < 0) {
		fprintf(stderr, "peaktrace: cannot find libpeaktrace.so (set PEAKTRACE_LIB)\n");
		return 1;
	}
	printf("runtime: %s\n", lib);
	char exe[PATH_MAX] = "";
	if (python) {
		/* a launcher (pyenv's shim, a venv script) may stand in front of
		 * the interpreter: ask it for the real executable first (no
		 * shell: the name is passed to exec as it is) */
		int fds[2];
		if (pipe(fds) == 0) {
			pid_t q = fork();
			if (q == 0) {
				dup2(fds[1], 1);
				close(fds[0]);
				close(fds[1]);
				execlp(python, python, "-c", "import sys; print(sys.executable)",
				       (char *)NULL);
				_exit(127);
			}
			close(fds[1]);
			size_t got = 0;
			ssize_t r;
			while (q > 0 && got < sizeof exe - 1 &&
			       (r = read(fds[0], exe + got, sizeof exe - 1 - got)) > 0)
				got += (size_t)r;
			exe[got] = '\0';
			exe[strcspn(exe, "\n")] = '\0';
			close(fds[0]);
			int qst;
			if (q > 0)
				waitpid(q, &qst, 0);
		}
		if (!exe[0]) {
			fprintf(stderr, "peaktrace: cannot run '%s' as a python interpreter\n", python);
			return 1;
		}
		printf("python: %s\n", exe);
		python = exe;
	}
	fflush(stdout);
	pid_t pid = fork();
	if (pid < 0)
		return 1;
	if (pid == 0) {
		dup2(1, 2);
		setenv("LD_PRELOAD", lib, 1);
		setenv("PEAKTRACE_DOCTOR", "1", 1);
		if (python)
			execlp(python, python, "-c", "pass", (char *)NULL);
		else
			execl("/bin/true", "true", (char *)NULL);
		fprintf(stderr, "peaktrace: cannot run '%s': %s\n", python ? python : "/bin/true",
			strerror(errno));
		_exit(1);
	}
	int st;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	int ok = WIFEXITED(st) && WEXITSTATUS(st) == 0;
	printf("%s\n", ok ? "all checks passed" : "some checks failed");
	return ok ? 0 : 1;
}
