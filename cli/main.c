/*
 * main.c: the `peaktrace` command: global options and the dispatch to its
 * subcommands (cli.h). Like git, `peaktrace CMD ARGS...` calls the
 * subcommand with argv[0] == CMD; `peaktrace help CMD` is `peaktrace CMD
 * --help`.
 *
 * Before dispatching, PEAKTRACE_FAILPOINTS (if set) arms this process's
 * failpoints, so chaos runs reach the decoder's sites too; a bad spec is a
 * usage error.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "peaktrace/fp.h"

#ifndef PT_VERSION
#define PT_VERSION "unknown"
#endif

struct pt_cmd {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *summary;  /* one line for `peaktrace --help` */
};

/*
 * ---- THE COMMAND TABLE -----------------------------------------------------
 * One line per subcommand, in the order `peaktrace --help` lists them.
 * The lead adds run, report and doctor here (declare them in cli.h).
 */
static const struct pt_cmd commands[] = {
	{ "run", pt_cmd_run, "run a command under the profiler" },
	{ "report", pt_cmd_report, "render a trace as html, svg, pprof..." },
	{ "decode", pt_cmd_decode, "print a trace's records as JSON lines" },
	{ "failpoints", pt_cmd_failpoints,
	  "list the failpoints compiled in and their syntax" },
	{ "doctor", pt_cmd_doctor, "run the start-up environment checks" },
};
/* ---- end of the command table ---------------------------------------------- */

#define NCOMMANDS (sizeof commands / sizeof commands[0])

static void usage(FILE *f)
{
	fprintf(f, "usage: peaktrace [--version] [--help] COMMAND [ARGS...]\n\n"
		   "commands:\n");
	for (size_t i = 0; i < NCOMMANDS; i++)
		fprintf(f, "  %-12s %s\n", commands[i].name, commands[i].summary);
	fprintf(f, "\n'peaktrace COMMAND --help' (or 'peaktrace help COMMAND') "
		   "describes one command\n");
}

int pt_cli_is_help(const char *arg)
{
	return strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0;
}

int pt_cli_unknown_option(const char *cmd, const char *opt)
{
	fprintf(stderr, "peaktrace: unknown option '%s' for '%s'; see "
			"'peaktrace %s --help'\n", opt, cmd, cmd);
	return PT_EXIT_USAGE;
}

int pt_cli_usage_error(const char *cmd, const char *fmt, ...)
{
	va_list ap;

	fputs("peaktrace: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap); /* NOLINT(clang-analyzer-valist.Uninitialized) */
	va_end(ap);
	fprintf(stderr, "; see 'peaktrace %s --help'\n", cmd);
	return PT_EXIT_USAGE;
}

static const struct pt_cmd *find_cmd(const char *name)
{
	for (size_t i = 0; i < NCOMMANDS; i++)
		if (strcmp(commands[i].name, name) == 0)
			return &commands[i];
	return NULL;
}

static int arm_failpoints(void)
{
	const char *spec = getenv("PEAKTRACE_FAILPOINTS");
	char err[256];

	if (!spec || !*spec)
		return 0;
	if (pt_fp_configure(&pt_fp_table, spec, err, sizeof err) != 0) {
		fprintf(stderr, "peaktrace: bad PEAKTRACE_FAILPOINTS '%s': %s; "
				"see 'peaktrace failpoints'\n", spec, err);
		return -1;
	}
	return 0;
}

/* Like coreutils' close_stdout: output lost to a full disk or a closed
 * pipe must not exit 0 (`peaktrace failpoints --names > /dev/full`). A
 * command that already failed keeps its status; `run` never writes to
 * stdout after CMD starts, so CMD's status is kept too. */
static int check_stdout(int rc)
{
	errno = 0;
	if (fflush(stdout) == 0 && !ferror(stdout))
		return rc;
	if (rc == PT_EXIT_OK) {
		fprintf(stderr, "peaktrace: cannot write standard output: %s\n",
			strerror(errno ? errno : EIO));
		rc = PT_EXIT_UNREADABLE;
	}
	return rc;
}

static int dispatch(int argc, char **argv)
{
	const struct pt_cmd *c;

	if (argc < 2) {
		usage(stderr);
		return PT_EXIT_USAGE;
	}
	if (pt_cli_is_help(argv[1])) {
		usage(stdout);
		return PT_EXIT_OK;
	}
	if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "-V") == 0) {
		printf("peaktrace %s\n", PT_VERSION);
		return PT_EXIT_OK;
	}
	if (strcmp(argv[1], "help") == 0) {
		if (argc < 3) {
			usage(stdout);
			return PT_EXIT_OK;
		}
		c = find_cmd(argv[2]);
		if (!c) {
			fprintf(stderr, "peaktrace: unknown command '%s'; see "
					"'peaktrace --help'\n", argv[2]);
			return PT_EXIT_USAGE;
		}
		char help[] = "--help";
		char *hargv[] = { argv[2], help, NULL };
		return c->fn(2, hargv);
	}
	if (argv[1][0] == '-') {
		fprintf(stderr, "peaktrace: unknown option '%s'; see "
				"'peaktrace --help'\n", argv[1]);
		return PT_EXIT_USAGE;
	}
	c = find_cmd(argv[1]);
	if (!c) {
		fprintf(stderr, "peaktrace: unknown command '%s'; see "
				"'peaktrace --help'\n", argv[1]);
		return PT_EXIT_USAGE;
	}
	if (arm_failpoints() != 0)
		return PT_EXIT_USAGE;
	return c->fn(argc - 1, argv + 1);
}

int main(int argc, char **argv)
{
	return check_stdout(dispatch(argc, argv));
}
