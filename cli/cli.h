/*
 * cli.h: the `peaktrace` command's subcommands and shared helpers.
 *
 * Each subcommand is `int pt_cmd_NAME(int argc, char **argv)`, called with
 * argv[0] == "NAME" (as git does), returning the process exit status. Each
 * answers `--help` itself (usage on stdout, exit 0). main.c holds the table
 * that dispatches to them.
 *
 * Exit statuses shared by the commands (DESIGN.md, interface contract):
 *   0  success (a cut or partly corrupt trace still decodes: warnings only)
 *   1  usage error
 *   2  the input cannot be read (missing, not a trace, unsupported version),
 *      or the output cannot be written (main.c checks stdout at exit)
 * `peaktrace run` exits with the profiled command's status instead.
 */
#ifndef PT_CLI_H
#define PT_CLI_H

enum {
	PT_EXIT_OK = 0,
	PT_EXIT_USAGE = 1,
	PT_EXIT_UNREADABLE = 2,
};

int pt_cmd_run(int argc, char **argv);
int pt_cmd_report(int argc, char **argv);
int pt_cmd_doctor(int argc, char **argv);
int pt_cmd_decode(int argc, char **argv);
int pt_cmd_failpoints(int argc, char **argv);

/* Finds libpeaktrace.so (cmd_run.c); 0 or -ENOENT. */
int pt_cli_find_lib(char *out, size_t cap);

/* Prints "peaktrace: unknown option 'OPT' for 'CMD'; see 'peaktrace CMD
 * --help'" on stderr; returns PT_EXIT_USAGE. */
int pt_cli_unknown_option(const char *cmd, const char *opt);

/* Prints "peaktrace: MESSAGE; see 'peaktrace CMD --help'" on stderr;
 * returns PT_EXIT_USAGE. */
int pt_cli_usage_error(const char *cmd, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* True when arg is "-h" or "--help". */
int pt_cli_is_help(const char *arg);

#endif
