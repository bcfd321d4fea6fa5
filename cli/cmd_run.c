/*
 * cmd_run.c: `peaktrace run [options] -- CMD ARGS...`
 *
 * Runs CMD with libpeaktrace.so preloaded, so CMD and every process it
 * starts write their own trace DIR/peaktrace-PID.ptrace; when CMD ends,
 * renders each new trace into its report folder DIR/peaktrace-PID/ and
 * prints one line per trace naming the peak and the report. Exits with
 * CMD's exit status, or 128+N when CMD died of signal N. SIGINT, SIGTERM,
 * SIGHUP and SIGQUIT received by peaktrace are forwarded to CMD.
 *
 * The runtime library is found, in order: $PEAKTRACE_LIB; next to this
 * executable in the build tree (../shims/libpeaktrace.so) or the install
 * tree (../lib/peaktrace/libpeaktrace.so); the build-time path.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "peaktrace/count.h"
#include "report/model.h"
#include "report/render.h"

#ifndef PT_LIB_BUILD_PATH
#define PT_LIB_BUILD_PATH ""
#endif

static volatile sig_atomic_t child_pid;

static void forward(int sig)
{
	if (child_pid > 0)
		kill((pid_t)child_pid, sig);
}

static void usage(FILE *f)
{
	fputs("usage: peaktrace run [options] -- CMD [ARGS...]\n"
	      "\n"
	      "Runs CMD under the profiler. Each profiled process writes\n"
	      "DIR/peaktrace-PID.ptrace; at the end each trace is rendered into its\n"
	      "report folder DIR/peaktrace-PID/ (index.html) and one line per trace\n"
	      "names the peak and the report. Exits with CMD's status (128+N if CMD\n"
	      "died of signal N).\n"
	      "\n"
	      "options:\n"
	      "  -o, --out DIR          where traces and reports go (default: .)\n"
	      "  --mode sampled|exact   sampled (default, low overhead) or every allocation\n"
	      "  --sample-bytes N       mean sampling interval in bytes (default 256k;\n"
	      "                         suffixes k, m, g)\n"
	      "  --stack-depth N        native frames kept per stack (default 64)\n"
	      "  --no-report            write the traces only\n"
	      "  --no-follow-fork       do not profile fork() children\n"
	      "  -q, --quiet            no summary lines\n"
	      "  -h, --help             this help\n",
	      f);
}

static int file_exists(const char *p)
{
	struct stat st;
	return p && *p && stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

int pt_cli_find_lib(char *out, size_t cap)
{
	const char *env = getenv("PEAKTRACE_LIB");
	if (env && *env) {
		if (!file_exists(env))
			return -ENOENT;
		snprintf(out, cap, "%s", env);
		return 0;
	}
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
	if (n > 0) {
		self[n] = '\0';
		char *slash = strrchr(self, '/');
		if (slash) {
			*slash = '\0';
			const char *rel[] = { "/../shims/libpeaktrace.so",
					      "/../lib/peaktrace/libpeaktrace.so",
					      "/libpeaktrace.so" };
			for (size_t i = 0; i < sizeof rel / sizeof rel[0]; i++) {
				char cand[PATH_MAX + 64];
				snprintf(cand, sizeof cand, "%s%s", self, rel[i]);
				char real[PATH_MAX];
				if (file_exists(cand) && realpath(cand, real)) {
					snprintf(out, cap, "%s", real);
					return 0;
				}
			}
		}
	}
	if (file_exists(PT_LIB_BUILD_PATH)) {
		snprintf(out, cap, "%s", PT_LIB_BUILD_PATH);
		return 0;
	}
	return -ENOENT;
}

static int mkdir_p(const char *path)
{
	char tmp[PATH_MAX];
	snprintf(tmp, sizeof tmp, "%s", path);
	for (char *p = tmp + 1; *p; p++) {
		if (*p == '/') {
			*p = '\0';
			if (mkdir(tmp, 0755) != 0 && errno != EEXIST)
				return -errno;
			*p = '/';
		}
	}
	if (mkdir(tmp, 0755) != 0 && errno != EEXIST)
		return -errno;
	return 0;
}

/* A count the runtime would take for PEAKTRACE_SAMPLE_BYTES or
 * PEAKTRACE_STACK_DEPTH (core/runtime.c, with the same parser): in [1,
 * max], else -EINVAL. Checked here so a bad value is a usage error of
 * `run`, not a start-up failure of CMD naming an environment variable the
 * user never set. */
static int parse_count(const char *s, uint64_t max, uint64_t *out)
{
	uint64_t v;

	if (!pt_parse_count(s, &v) || v == 0 || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

/* "peaktrace-PID[.N].ptrace" -> PID and N (0 without .N); 0 or -EINVAL. */
static int trace_name(const char *name, unsigned long *pid, unsigned long *gen)
{
	size_t len = strlen(name);
	char *end;

	if (strncmp(name, "peaktrace-", 10) != 0 || len < 17 ||
	    strcmp(name + len - 7, ".ptrace") != 0)
		return -EINVAL;
	*gen = 0;
	*pid = strtoul(name + 10, &end, 10);
	if (end == name + 10)
		return -EINVAL;
	if (*end == '.' && end != name + len - 7)
		*gen = strtoul(end + 1, &end, 10);
	return end == name + len - 7 ? 0 : -EINVAL;
}

static int is_trace(const struct dirent *e)
{
	unsigned long pid, gen;

	return trace_name(e->d_name, &pid, &gen) == 0;
}

/* By pid, then generation: the summary lines come out in a stable order. */
static int by_pid(const struct dirent **a, const struct dirent **b)
{
	unsigned long pa = 0, ga = 0, pb = 0, gb = 0;

	trace_name((*a)->d_name, &pa, &ga);
	trace_name((*b)->d_name, &pb, &gb);
	if (pa != pb)
		return pa < pb ? -1 : 1;
	return ga < gb ? -1 : ga > gb;
}

/* Traces in dir made by this run: names peaktrace-PID[.N].ptrace whose
 * process started after the command did (the header's start, in ns; the
 * file's mtime, in seconds, only narrows the search: two runs into one
 * directory within a second must not report each other's traces). Renders
 * each, in pid order; prints a summary line for the main process (pid
 * main_pid; its lines first, the one the user is after), for every
 * process whose peak reached 1 MiB, and one line counting the others
 * (shells and helpers that wrappers such as pyenv's shims run on the
 * way). */
static void render_all(const char *dir, time_t start, uint64_t start_ns, int quiet,
		       int want_report, pid_t main_pid)
{
	unsigned small = 0;
	struct dirent **names = NULL;
	int n = scandir(dir, &names, is_trace, by_pid);
	char **later = NULL;  /* summary lines of the other processes */
	size_t nlater = 0;

	if (n < 0)
		return;
	if (n > 0)
		later = calloc((size_t)n, sizeof *later);
	for (int k = 0; k < n; k++) {
		const char *name = names[k]->d_name;
		char trace[PATH_MAX + 300];
		if ((size_t)snprintf(trace, sizeof trace, "%s/%s", dir, name) >= sizeof trace)
			continue;
		struct stat st;
		if (stat(trace, &st) != 0 || st.st_mtime < start)
			continue;
		struct pt_model *m = NULL;
		char err[256];
		if (pt_model_load(trace, &m, err, sizeof err) < 0) {
			fprintf(stderr, "peaktrace: cannot read '%s': %s\n", trace, err);
			continue;
		}
		if (m->have_header && m->start_unix_ns < start_ns) {
			pt_model_free(m); /* an earlier run's */
			continue;
		}
		char report[PATH_MAX + 300];
		memcpy(report, trace, strlen(trace) - 7); /* without ".ptrace" */
		report[strlen(trace) - 7] = '\0';
		int rendered = 0;
		if (want_report) {
			struct pt_render_opts o = { .top = 20, .trace_path = trace };
			if (pt_render_html(m, report, &o) == 0)
				rendered = 1;
			else
				fprintf(stderr, "peaktrace: cannot write report '%s'\n", report);
		}
		int is_main = (pid_t)m->pid == main_pid;
		if (!quiet && !is_main && m->peak_bytes < (1u << 20)) {
			small++;
		} else if (!quiet) {
			char line[512], msg[sizeof line + sizeof report + 64];
			pt_report_summary_line(m, line, sizeof line);
			if (rendered)
				snprintf(msg, sizeof msg, "peaktrace: %s; report: %s/index.html\n",
					 line, report);
			else
				snprintf(msg, sizeof msg, "peaktrace: %s; trace: %s\n", line,
					 trace);
			if (is_main || !later || !(later[nlater] = strdup(msg)))
				fputs(msg, stderr);
			else
				nlater++;
		}
		pt_model_free(m);
	}
	if (later) {
		for (size_t k = 0; k < nlater; k++) {
			fputs(later[k], stderr);
			free(later[k]);
		}
		free(later);
	}
	for (int k = 0; k < n; k++)
		free(names[k]);
	free(names);
	if (small)
		fprintf(stderr, "peaktrace: %u more trace%s of small processes (peak < 1 MiB) in %s\n",
			small, small == 1 ? "" : "s", dir);
}

int pt_cmd_run(int argc, char **argv)
{
	const char *out = ".", *mode = NULL, *sample = NULL, *depth = NULL;
	int quiet = 0, want_report = 1, follow_fork = 1;
	int i = 1;
	for (; i < argc; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "--")) {
			i++;
			break;
		}
		if (a[0] != '-')
			break; /* the command starts here */
		if (pt_cli_is_help(a)) {
			usage(stdout);
			return PT_EXIT_OK;
		}
		const char *val = NULL;
		const char *opts_with_val[] = { "--out", "-o", "--mode", "--sample-bytes",
						"--stack-depth" };
		int takes = 0;
		for (size_t k = 0; k < sizeof opts_with_val / sizeof opts_with_val[0]; k++) {
			size_t L = strlen(opts_with_val[k]);
			if (!strcmp(a, opts_with_val[k])) {
				takes = 1;
				/* "-o -- cmd": the separator is not a value */
				if (i + 1 >= argc || !strcmp(argv[i + 1], "--"))
					return pt_cli_usage_error("run", "option '%s' needs a value", a);
				val = argv[++i];
			} else if (!strncmp(a, opts_with_val[k], L) && a[L] == '=') {
				takes = 1;
				val = a + L + 1;
			}
			if (takes) {
				a = opts_with_val[k];
				break;
			}
		}
		if (takes) {
			if (!strcmp(a, "--out") || !strcmp(a, "-o"))
				out = val;
			else if (!strcmp(a, "--mode"))
				mode = val;
			else if (!strcmp(a, "--sample-bytes"))
				sample = val;
			else
				depth = val;
		} else if (!strcmp(a, "--no-report")) {
			want_report = 0;
		} else if (!strcmp(a, "--no-follow-fork")) {
			follow_fork = 0;
		} else if (!strcmp(a, "-q") || !strcmp(a, "--quiet")) {
			quiet = 1;
		} else {
			return pt_cli_unknown_option("run", a);
		}
	}
	if (i >= argc)
		return pt_cli_usage_error("run", "no command to run");
	if (mode && strcmp(mode, "sampled") != 0 && strcmp(mode, "exact") != 0)
		return pt_cli_usage_error("run", "bad --mode '%s' (sampled or exact)", mode);
	uint64_t n;
	if (sample && parse_count(sample, PT_MAX_SAMPLE_BYTES, &n) != 0)
		return pt_cli_usage_error("run", "bad --sample-bytes '%s' (a byte count from 1 "
					  "to 1T, e.g. 65536 or 512k)", sample);
	if (depth && parse_count(depth, PT_MAX_STACK_DEPTH, &n) != 0)
		return pt_cli_usage_error("run", "bad --stack-depth '%s' (1 to 256)", depth);

	char lib[PATH_MAX];
	if (pt_cli_find_lib(lib, sizeof lib) < 0) {
		fprintf(stderr, "peaktrace: cannot find libpeaktrace.so (set PEAKTRACE_LIB)\n");
		return PT_EXIT_UNREADABLE;
	}
	int rc = mkdir_p(out);
	char outabs[PATH_MAX];
	if (rc < 0 || !realpath(out, outabs)) {
		fprintf(stderr, "peaktrace: cannot create output directory '%s': %s\n", out,
			strerror(rc < 0 ? -rc : errno));
		return PT_EXIT_UNREADABLE;
	}
	/* checked here, like a missing parent: the same status (2) for any
	 * unusable --out, before the command runs */
	struct stat ost;
	if (stat(outabs, &ost) != 0 || !S_ISDIR(ost.st_mode)) {
		fprintf(stderr, "peaktrace: cannot write traces to '%s': not a directory\n", out);
		return PT_EXIT_UNREADABLE;
	}
	if (access(outabs, W_OK | X_OK) != 0) {
		fprintf(stderr, "peaktrace: cannot write traces to '%s': %s\n", out, strerror(errno));
		return PT_EXIT_UNREADABLE;
	}

	/* LD_PRELOAD: ours first, then whatever the user had */
	const char *old = getenv("LD_PRELOAD");
	size_t need = strlen(lib) + (old ? strlen(old) + 2 : 1);
	char *preload = malloc(need);
	if (!preload)
		return PT_EXIT_UNREADABLE;
	snprintf(preload, need, "%s%s%s", lib, old && *old ? ":" : "", old ? old : "");
	setenv("LD_PRELOAD", preload, 1);
	free(preload);
	setenv("PEAKTRACE_OUT", outabs, 1);
	if (mode)
		setenv("PEAKTRACE_MODE", mode, 1);
	if (sample)
		setenv("PEAKTRACE_SAMPLE_BYTES", sample, 1);
	if (depth)
		setenv("PEAKTRACE_STACK_DEPTH", depth, 1);
	if (!follow_fork)
		setenv("PEAKTRACE_FOLLOW_FORK", "0", 1);

	struct timespec start_ts;
	clock_gettime(CLOCK_REALTIME, &start_ts);
	time_t start = start_ts.tv_sec;
	uint64_t start_ns = (uint64_t)start_ts.tv_sec * 1000000000u + (uint64_t)start_ts.tv_nsec;
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0) {
		fprintf(stderr, "peaktrace: cannot fork: %s\n", strerror(errno));
		return PT_EXIT_UNREADABLE;
	}
	if (pid == 0) {
		execvp(argv[i], &argv[i]);
		int e = errno;
		unsetenv("LD_PRELOAD");
		fprintf(stderr, "peaktrace: cannot run '%s': %s\n", argv[i], strerror(e));
		_exit(e == ENOENT ? 127 : 126);
	}
	child_pid = pid;
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = forward;
	sigemptyset(&sa.sa_mask);
	int sigs[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT };
	for (size_t k = 0; k < sizeof sigs / sizeof sigs[0]; k++)
		sigaction(sigs[k], &sa, NULL);

	int status = 0;
	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR) {
			fprintf(stderr, "peaktrace: waitpid: %s\n", strerror(errno));
			return PT_EXIT_UNREADABLE;
		}
	}
	child_pid = 0;
	int code = WIFEXITED(status) ? WEXITSTATUS(status)
				     : WIFSIGNALED(status) ? 128 + WTERMSIG(status) : 1;
	unsetenv("LD_PRELOAD");
	render_all(outabs, start, start_ns, quiet, want_report, pid);
	return code;
}
