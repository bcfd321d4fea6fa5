/*
 * clirun.h: running the built `peaktrace` command from a cmocka test, as a
 * script would (test_cli_decode.c, test_cli_report.c). Include after
 * cmocka.h, in one test file each; the file's .cmake defines PEAKTRACE_BIN.
 *
 * setup/teardown make and remove a private directory (tmpdir); run() spawns
 * the binary with the caller's environment minus every PEAKTRACE_ variable
 * (plus PEAKTRACE_FAILPOINTS=fp_spec when given), captures stdout and
 * stderr into out and err, and returns the exit status.
 */
#ifndef PT_TEST_CLIRUN_H
#define PT_TEST_CLIRUN_H

#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

extern char **environ;

static char tmpdir[] = "/tmp/pt_test_cli.XXXXXX";
static char out[1 << 16], err[1 << 16];

static int setup(void **state)
{
	(void)state;
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[128];
	(void)state;
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

static void slurp(const char *path, char *buf, size_t cap)
{
	FILE *f = fopen(path, "rb");
	size_t n = 0;
	if (f) {
		n = fread(buf, 1, cap - 1, f);
		fclose(f);
	}
	buf[n] = '\0';
}

/* Writes n bytes of p to tmpdir/name; returns the path (static storage). */
static const char *write_file(const char *name, const void *p, size_t n)
{
	static char path[256];
	snprintf(path, sizeof path, "%s/%s", tmpdir, name);
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	if (n)
		assert_int_equal(fwrite(p, 1, n, f), n);
	assert_int_equal(fclose(f), 0);
	return path;
}

/* Runs peaktrace with args (NULL-terminated) and, if fp_spec, with
 * PEAKTRACE_FAILPOINTS=fp_spec; fills out/err; returns the exit status. */
static int run(const char *fp_spec, const char *const *args)
{
	char opath[256], epath[256], fpenv[256];
	char *argv[16];
	char *envp[256];
	size_t n = 0, ne = 0;
	posix_spawn_file_actions_t fa;
	pid_t pid;
	int status;

	snprintf(opath, sizeof opath, "%s/out", tmpdir);
	snprintf(epath, sizeof epath, "%s/err", tmpdir);
	argv[n++] = (char *)PEAKTRACE_BIN;
	for (; args[n - 1] && n < 15; n++)
		argv[n] = (char *)args[n - 1];
	argv[n] = NULL;
	for (char **e = environ; *e && ne < 250; e++)
		if (strncmp(*e, "PEAKTRACE_", 10) != 0)
			envp[ne++] = *e;
	if (fp_spec) {
		snprintf(fpenv, sizeof fpenv, "PEAKTRACE_FAILPOINTS=%s", fp_spec);
		envp[ne++] = fpenv;
	}
	envp[ne] = NULL;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 1, opath,
					 O_WRONLY | O_CREAT | O_TRUNC, 0600);
	posix_spawn_file_actions_addopen(&fa, 2, epath,
					 O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_int_equal(posix_spawn(&pid, PEAKTRACE_BIN, &fa, NULL, argv, envp), 0);
	posix_spawn_file_actions_destroy(&fa);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	slurp(opath, out, sizeof out);
	slurp(epath, err, sizeof err);
	assert_true(WIFEXITED(status));
	return WEXITSTATUS(status);
}

#endif
