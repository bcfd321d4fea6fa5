/*
 * cmd_failpoints.c: `peaktrace failpoints [--names]`: every failpoint site
 * compiled into peaktrace (include/peaktrace/failpoints.def), where it lives
 * (runtime: libpeaktrace.so; decoder: this command) and what it does, then
 * the PEAKTRACE_FAILPOINTS syntax. --names prints the bare names, one a
 * line, for scripts (the chaos runner enumerates them this way).
 */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "peaktrace/fp.h"

static void help(void)
{
	printf("usage: peaktrace failpoints [--names]\n\n"
	       "Lists every failpoint compiled into peaktrace, with where it "
	       "lives (runtime:\nthe preloaded library; decoder: the peaktrace "
	       "command) and what it does,\nthen the syntax of "
	       "PEAKTRACE_FAILPOINTS.\n\n"
	       "  --names   print only the names, one a line\n");
}

int pt_cmd_failpoints(int argc, char **argv)
{
	int names = 0;

	for (int i = 1; i < argc; i++) {
		if (pt_cli_is_help(argv[i])) {
			help();
			return PT_EXIT_OK;
		} else if (strcmp(argv[i], "--names") == 0) {
			names = 1;
		} else if (argv[i][0] == '-') {
			return pt_cli_unknown_option("failpoints", argv[i]);
		} else {
			return pt_cli_usage_error("failpoints",
						  "unexpected argument '%s'",
						  argv[i]);
		}
	}
	if (names) {
		for (size_t i = 0; i < PT_FP_ID__COUNT; i++)
			printf("%s\n", pt_fp_sites[i].name);
		return PT_EXIT_OK;
	}
	size_t w = 4;
	for (size_t i = 0; i < PT_FP_ID__COUNT; i++)
		if (strlen(pt_fp_sites[i].name) > w)
			w = strlen(pt_fp_sites[i].name);
	printf("%-*s  %-7s  %s\n", (int)w, "NAME", "WHERE", "DESCRIPTION");
	for (size_t i = 0; i < PT_FP_ID__COUNT; i++)
		printf("%-*s  %-7s  %s\n", (int)w, pt_fp_sites[i].name,
		       pt_fp_where[i], pt_fp_sites[i].desc);
	printf("\nArm them with PEAKTRACE_FAILPOINTS (the runtime reads it at "
	       "start-up, the\npeaktrace command when it starts):\n\n%s",
	       pt_fp_syntax_help());
	return PT_EXIT_OK;
}
