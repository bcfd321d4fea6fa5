/*
 * symbolize.c: native frames to names, with elfutils' libdwfl.
 *
 * Why elfutils and not our own ELF reader: resolving against .symtab and
 * .dynsym is a page of code, but the rest of the job is not. Debian strips
 * its libraries to .dynsym and ships the full symbol tables and DWARF in
 * separate files found by build-id (/usr/lib/debug/.build-id/xx/yyyy.debug);
 * line tables come in DWARF 2 to 5 with their own encodings (and possibly
 * compressed sections); symbol tables need the "which symbol covers this
 * address" rules (sizes, aliases, STT_GNU_IFUNC, prefer global over local).
 * libdwfl does all of that, is maintained with the toolchain, and is what
 * perf, systemtap and eu-addr2line use. The price is a dependency
 * (libdw-dev, libelf-dev) for the reporter only: the runtime never links
 * it. Should elfutils be missing on some platform, this file is the one to
 * replace; the interface (symbolize.h) hides it.
 *
 * The map: modules come from MODULE records (path, load bias, [start,
 * end)), kept sorted by start with a running maximum of ends so overlapping
 * modules (dlclose then dlopen at the same place) are found too; among the
 * modules covering an address the one recorded last wins.
 *
 * Each module gets its own Dwfl, created at the first lookup that hits it
 * and kept until pt_sym_free (the per-module cache): a module file that is
 * missing or unreadable costs one failed open, and one bad file cannot
 * disturb the others. The file is opened here, not by libdwfl, so it can be
 * checked to be a regular file first: a trace is untrusted input, and a
 * path like /dev/zero or a FIFO must not hang the reporter.
 *
 * Separate debuginfo is looked up OFFLINE only, by build-id under
 * /usr/lib/debug/.build-id/; elfutils' standard callback would also ask
 * debuginfod servers when DEBUGINFOD_URLS is set, and a report must not
 * wait on the network. PEAKTRACE_DEBUGINFOD=1 opts into it.
 *
 * Workload: a few hundred modules, a few thousand distinct ips per trace;
 * each ip is looked up once (the model interns frames).
 */
#include "report/symbolize.h"

#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <elfutils/libdwfl.h>

#include "peaktrace/format.h"

#define MAX_SYM_WARNINGS 64

/* The C++ ABI's demangler, from libstdc++ (what elfutils' own tools use
 * when built with demangling): C linkage, malloc'd result. */
extern char *__cxa_demangle(const char *mangled, char *buf, size_t *len,
			    int *status);

struct smod {
	char *path;
	char build_id[2 * PT_FMT_MAX_BUILD_ID + 1]; /* hex, as recorded; "" */
	uint64_t bias, start, end;
	uint32_t order;      /* order of addition; higher wins on overlap */
	int state;           /* 0 not opened, 1 open, -1 failed */
	Dwfl *dwfl;
	Dwfl_Module *mod;
};

struct pt_sym {
	int read_files;
	struct smod *mods;   /* sorted by start once sorted == 1 */
	size_t nmods, cap;
	uint64_t *maxend;    /* maxend[i] = max(mods[0..i].end) */
	int sorted;
	char *warn[MAX_SYM_WARNINGS];
	size_t nwarn;
	char **names;        /* symbol names stripped of "@VERSION" */
	size_t nnames, capnames;
};

int pt_sym_new(struct pt_sym **out, int read_files)
{
	struct pt_sym *s = calloc(1, sizeof *s);

	*out = NULL;
	if (!s)
		return -ENOMEM;
	s->read_files = read_files;
	*out = s;
	return 0;
}

int pt_sym_add_module(struct pt_sym *s, const char *path, uint64_t load_bias,
		      uint64_t start, uint64_t end, const char *build_id)
{
	if (start >= end)
		return 0;
	if (s->nmods == s->cap) {
		size_t nc = s->cap ? s->cap * 2 : 16;
		struct smod *m = realloc(s->mods, nc * sizeof *m);

		if (!m)
			return -ENOMEM;
		s->mods = m;
		s->cap = nc;
	}
	struct smod *m = &s->mods[s->nmods];

	memset(m, 0, sizeof *m);
	m->path = strdup(path ? path : "");
	if (!m->path)
		return -ENOMEM;
	snprintf(m->build_id, sizeof m->build_id, "%s", build_id ? build_id : "");
	m->bias = load_bias;
	m->start = start;
	m->end = end;
	m->order = (uint32_t)s->nmods;
	s->nmods++;
	s->sorted = 0;
	return 0;
}

static int cmp_start(const void *a, const void *b)
{
	const struct smod *x = a, *y = b;

	if (x->start != y->start)
		return x->start < y->start ? -1 : 1;
	return x->order < y->order ? -1 : x->order > y->order;
}

static int sort_mods(struct pt_sym *s)
{
	uint64_t *me;

	if (s->sorted)
		return 0;
	/* Modules may be added after lookups: an opened module's state
	 * (its path string and Dwfl) moves with its struct. */
	if (s->nmods)
		qsort(s->mods, s->nmods, sizeof *s->mods, cmp_start);
	me = realloc(s->maxend, (s->nmods ? s->nmods : 1) * sizeof *me);
	if (!me)
		return -ENOMEM;
	s->maxend = me;
	for (size_t i = 0; i < s->nmods; i++)
		me[i] = i && me[i - 1] > s->mods[i].end ? me[i - 1] : s->mods[i].end;
	s->sorted = 1;
	return 0;
}

/* The module covering ip recorded last, or NULL. */
static struct smod *find_mod(struct pt_sym *s, uint64_t ip)
{
	size_t lo = 0, hi = s->nmods;
	struct smod *best = NULL;

	/* first index with start > ip */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (s->mods[mid].start <= ip)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (size_t i = lo; i-- > 0;) {
		if (s->maxend[i] <= ip)
			break; /* nothing at or before i reaches ip */
		if (ip < s->mods[i].end &&
		    (!best || s->mods[i].order > best->order))
			best = &s->mods[i];
	}
	return best;
}

static void add_warning(struct pt_sym *s, const char *path, const char *why)
{
	char buf[640];

	if (s->nwarn >= MAX_SYM_WARNINGS)
		return;
	snprintf(buf, sizeof buf, "cannot read symbols of '%s': %s", path, why);
	s->warn[s->nwarn] = strdup(buf);
	if (s->warn[s->nwarn])
		s->nwarn++;
}

/* path of the separate debuginfo file of a build-id given in hex (at least
 * two bytes), under /usr/lib/debug/.build-id/; false when it is too long. */
static bool debug_path(char *path, size_t cap, const char *hex)
{
	int n = snprintf(path, cap, "/usr/lib/debug/.build-id/%.2s/%s.debug",
			 hex, hex + 2);
	return n > 0 && (size_t)n < cap;
}

static void bytes_hex(char *out, size_t cap, const unsigned char *bits, int len)
{
	out[0] = '\0';
	for (size_t i = 0; i < (size_t)(len > 0 ? len : 0) && 2 * i + 2 < cap; i++)
		snprintf(out + 2 * i, 3, "%02x", bits[i]);
}

/* A regular file opened for reading, or -1 (errno set; EINVAL: not a
 * regular file). A trace is untrusted: a FIFO or a device must not hang
 * the reporter. */
static int open_regular(const char *path)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);

	if (fd < 0)
		return -1;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		errno = EINVAL;
		return -1;
	}
	return fd;
}

/* Separate debuginfo by build-id, offline; see the essay. */
static int find_debuginfo(Dwfl_Module *mod, void **userdata,
			  const char *modname, GElf_Addr base,
			  const char *file_name, const char *debuglink_file,
			  GElf_Word debuglink_crc, char **debuginfo_file_name)
{
	const char *env = getenv("PEAKTRACE_DEBUGINFOD");
	const unsigned char *bits;
	GElf_Addr vaddr;
	char hex[2 * PT_FMT_MAX_BUILD_ID + 1], path[512];
	int len, fd;

	if (env && strcmp(env, "1") == 0)
		return dwfl_standard_find_debuginfo(mod, userdata, modname,
						    base, file_name,
						    debuglink_file,
						    debuglink_crc,
						    debuginfo_file_name);
	len = dwfl_module_build_id(mod, &bits, &vaddr);
	if (len < 2 || len > (int)PT_FMT_MAX_BUILD_ID)
		return -1;
	bytes_hex(hex, sizeof hex, bits, len);
	if (!debug_path(path, sizeof path, hex))
		return -1;
	fd = open_regular(path);
	if (fd < 0)
		return -1;
	*debuginfo_file_name = strdup(path);
	return fd;
}

static const Dwfl_Callbacks callbacks = {
	.find_elf = dwfl_build_id_find_elf,
	.find_debuginfo = find_debuginfo,
	.section_address = dwfl_offline_section_address,
};

/* Reports the ELF file open on fd (consumed) for m; false on failure,
 * with libdwfl's message in *why. */
static bool report_file(struct smod *m, const char *path, int fd,
			const char **why)
{
	m->dwfl = dwfl_begin(&callbacks);
	if (!m->dwfl) {
		*why = dwfl_errmsg(-1);
		close(fd);
		return false;
	}
	/* ET_DYN: base is the load bias (add_p_vaddr true: the file's
	 * p_vaddr are added to it). ET_EXEC: base is ignored, bias 0. The
	 * fd is consumed on success only. */
	m->mod = dwfl_report_elf(m->dwfl, m->path, path, fd,
				 (GElf_Addr)m->bias, true);
	if (!m->mod) {
		*why = dwfl_errmsg(-1);
		close(fd);
		dwfl_end(m->dwfl);
		m->dwfl = NULL;
		return false;
	}
	dwfl_report_end(m->dwfl, NULL, NULL);
	return true;
}

/* True when the reported file is the one the trace recorded: same
 * build-id, or no build-id recorded (a trace from an older runtime, or an
 * object built without one). */
static bool same_build(struct smod *m)
{
	const unsigned char *bits;
	GElf_Addr vaddr;
	char hex[2 * PT_FMT_MAX_BUILD_ID + 1];
	int len;

	if (m->build_id[0] == '\0')
		return true;
	len = dwfl_module_build_id(m->mod, &bits, &vaddr);
	if (len <= 0 || len > (int)PT_FMT_MAX_BUILD_ID)
		return false;
	bytes_hex(hex, sizeof hex, bits, len);
	return strcmp(hex, m->build_id) == 0;
}

static void close_mod(struct smod *m)
{
	if (m->dwfl)
		dwfl_end(m->dwfl);
	m->dwfl = NULL;
	m->mod = NULL;
}

/* When the module's file is gone or was replaced since the trace was
 * recorded, its symbols may still be found by the recorded build-id:
 * the separate debuginfo file (Debian's -dbgsym packages) has them. */
static bool open_by_build_id(struct smod *m)
{
	char path[512];
	const char *why;
	int fd;

	if (strlen(m->build_id) < 4 ||
	    !debug_path(path, sizeof path, m->build_id))
		return false;
	fd = open_regular(path);
	if (fd < 0)
		return false;
	if (!report_file(m, path, fd, &why))
		return false;
	if (!same_build(m)) {
		close_mod(m);
		return false;
	}
	return true;
}

static void open_mod(struct pt_sym *s, struct smod *m)
{
	const char *why = NULL;
	int fd;

	m->state = -1;
	if (!s->read_files || m->path[0] == '\0')
		return;
	fd = open_regular(m->path);
	if (fd < 0) {
		int err = errno;

		if (open_by_build_id(m)) {
			m->state = 1;
			return;
		}
		/* The vdso and other pseudo-objects have no '/' and no
		 * file: not worth a warning. */
		if (strchr(m->path, '/'))
			add_warning(s, m->path, err == EINVAL ? "not a regular file"
							      : strerror(err));
		return;
	}
	if (!report_file(m, m->path, fd, &why)) {
		add_warning(s, m->path, why);
		return;
	}
	if (!same_build(m)) {
		/* Symbols from another build of the file would be wrong,
		 * and look right: leave module+offset instead. */
		close_mod(m);
		if (open_by_build_id(m)) {
			m->state = 1;
			return;
		}
		add_warning(s, m->path,
			    "the file changed since the trace was recorded "
			    "(its build-id differs); its frames are shown as "
			    "module+offset");
		return;
	}
	m->state = 1;
}

/* Takes ownership of name (freed by pt_sym_free); -1 (name freed) when
 * there is no room. */
static int keep_name(struct pt_sym *s, char *name)
{
	if (s->nnames == s->capnames) {
		size_t nc = s->capnames ? s->capnames * 2 : 64;
		char **p = realloc(s->names, nc * sizeof *p);

		if (!p) {
			free(name);
			return -1;
		}
		s->names = p;
		s->capnames = nc;
	}
	s->names[s->nnames++] = name;
	return 0;
}

int pt_sym_lookup(struct pt_sym *s, uint64_t ip, int is_return,
		  struct pt_sym_frame *f)
{
	struct smod *m;
	uint64_t a = is_return && ip > 0 ? ip - 1 : ip;

	memset(f, 0, sizeof *f);
	f->module = f->symbol = f->file = "";
	if (sort_mods(s) != 0)
		return 0;
	m = find_mod(s, a);
	if (!m)
		return 0;
	f->module = m->path;
	f->module_offset = ip - m->bias;
	if (m->state == 0)
		open_mod(s, m);
	if (m->state != 1)
		return 0;

	GElf_Off off = 0;
	GElf_Sym sym;
	const char *name = dwfl_module_addrinfo(m->mod, (GElf_Addr)a, &off,
						&sym, NULL, NULL, NULL);
	Dwfl_Line *line = dwfl_module_getsrc(m->mod, (Dwarf_Addr)a);

	if (line) {
		int lineno = 0;
		const char *src = dwfl_lineinfo(line, NULL, &lineno, NULL,
						NULL, NULL);

		if (src && lineno > 0) {
			f->file = src;
			f->line = (uint32_t)lineno;
		}
	}
	if (!name || !name[0])
		return 0;
	/* .dynsym names may carry a symbol version ("memcpy@@GLIBC_2.14"):
	 * the function is the same whatever the version, and the versioned
	 * form would split one function into several flamegraph boxes */
	const char *at = strchr(name, '@');

	if (at && at != name) {
		char *copy = strndup(name, (size_t)(at - name));

		if (copy && keep_name(s, copy) == 0)
			name = copy;
	}
	/* C++: the names people read (std::vector<long>::push_back), not
	 * the linker's (_ZNSt6vectorIlSaIlEE9push_backERKl) */
	if (name[0] == '_' && name[1] == 'Z') {
		int status = 0;
		char *d = __cxa_demangle(name, NULL, NULL, &status);

		if (d && status == 0) {
			if (keep_name(s, d) == 0) /* else freed there */
				name = d;
		} else {
			free(d);
		}
	}
	f->symbol = name;
	f->symbol_offset = off + (a != ip ? 1 : 0);
	return 1;
}

size_t pt_sym_warning_count(const struct pt_sym *s)
{
	return s->nwarn;
}

const char *pt_sym_warning(const struct pt_sym *s, size_t i)
{
	return i < s->nwarn ? s->warn[i] : "";
}

void pt_sym_free(struct pt_sym *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->nmods; i++) {
		if (s->mods[i].dwfl)
			dwfl_end(s->mods[i].dwfl);
		free(s->mods[i].path);
	}
	for (size_t i = 0; i < s->nwarn; i++)
		free(s->warn[i]);
	for (size_t i = 0; i < s->nnames; i++)
		free(s->names[i]);
	free(s->names);
	free(s->mods);
	free(s->maxend);
	free(s);
}
