/*
 * render_pprof.c: the run as a pprof profile (gzipped profile.proto).
 *
 * What fleet tools (go tool pprof, Pyroscope, Parca, Grafana) read. The
 * message is built by hand with report/pb.h, field numbers from pprof's
 * proto/profile.proto:
 *
 *   Profile   sample_type=1 sample=2 mapping=3 location=4 function=5
 *             string_table=6 time_nanos=9 duration_nanos=10
 *             period_type=11 period=12 comment=13 default_sample_type=14
 *   ValueType type=1 unit=2
 *   Sample    location_id=1 (packed, leaf first) value=2 (packed)
 *   Mapping   id=1 memory_start=2 memory_limit=3 file_offset=4
 *             filename=5 build_id=6 has_functions=7 has_filenames=8
 *             has_line_numbers=9
 *   Location  id=1 mapping_id=2 address=3 line=4
 *   Line      function_id=1 line=2
 *   Function  id=1 name=2 system_name=3 filename=4 start_line=5
 *
 * Sample types, in the order of Go's heap profiles: alloc_objects/count,
 * alloc_space/bytes (every sampled allocation of the run, estimated),
 * inuse_objects/count, inuse_space/bytes (live at the peak), and
 * default_sample_type = inuse_space. One Sample per model stack with a
 * non-zero value; one Location per model frame (id = frame index + 1);
 * one Function per distinct (name, file); one Mapping per module.
 *
 * Names: a Python frame is Function{name: function, filename: file} with
 * the line in its Line; a native frame is its symbol (or the model's
 * "module+0xOFF" when it has none) with its source file and line when
 * DWARF gave them. Every mapping says has_functions, so consumers do not
 * try to symbolize addresses again with files from this machine.
 *
 * Strings in a protobuf `string` must be UTF-8: they are sanitized.
 */
#include "report/render.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "report/escape.h"
#include "report/pb.h"
#include "report/tables.h"

/* ---- the string table --------------------------------------------------- */

struct strtab {
	struct pt_pb out;     /* the string_table fields, in index order */
	char **s;             /* index -> sanitized string (owned) */
	size_t n, cap;
	uint32_t *slots;      /* hash slots: index + 1, 0 = empty */
	size_t nslots;
	int err;
};

static uint64_t fnv(const char *s)
{
	uint64_t x = 0xcbf29ce484222325ull;

	while (*s)
		x = (x ^ (unsigned char)*s++) * 0x100000001b3ull;
	return x;
}

static int st_rehash(struct strtab *t)
{
	size_t ns = t->nslots ? t->nslots * 2 : 256;
	uint32_t *sl = calloc(ns, sizeof *sl);

	if (!sl)
		return -ENOMEM;
	for (size_t i = 0; i < t->n; i++) {
		size_t h = fnv(t->s[i]) & (ns - 1);

		while (sl[h])
			h = (h + 1) & (ns - 1);
		sl[h] = (uint32_t)(i + 1);
	}
	free(t->slots);
	t->slots = sl;
	t->nslots = ns;
	return 0;
}

/* Index of s in the table, added if new; 0 ("") on error (sticky). */
static uint64_t st_id(struct strtab *t, const char *raw)
{
	char *s;
	size_t h;

	if (t->err)
		return 0;
	if ((t->n + 1) * 2 > t->nslots && st_rehash(t))
		goto oom;
	s = pt_utf8_sanitize(raw ? raw : "");
	if (!s)
		goto oom;
	h = fnv(s) & (t->nslots - 1);
	while (t->slots[h]) {
		if (strcmp(t->s[t->slots[h] - 1], s) == 0) {
			free(s);
			return t->slots[h] - 1;
		}
		h = (h + 1) & (t->nslots - 1);
	}
	if (t->n == t->cap) {
		size_t nc = t->cap ? t->cap * 2 : 256;
		char **ns = realloc(t->s, nc * sizeof *ns);

		if (!ns) {
			free(s);
			goto oom;
		}
		t->s = ns;
		t->cap = nc;
	}
	t->s[t->n] = s;
	t->slots[h] = (uint32_t)(t->n + 1);
	pt_pb_bytes(&t->out, 6, s, strlen(s));
	return t->n++;
oom:
	t->err = -ENOMEM;
	return 0;
}

static void st_free(struct strtab *t)
{
	for (size_t i = 0; i < t->n; i++)
		free(t->s[i]);
	free(t->s);
	free(t->slots);
	pt_pb_free(&t->out);
}

/* ---- functions: one per (name, file) ------------------------------------ */

struct fnkey {
	uint64_t name, file;  /* string ids (below 2^32: the string table's
				 slots hold 32-bit indices) */
};

/* The function id of k (1, 2, ... in order of first use) from fns, which
 * maps (name << 32 | file) to it; *fresh = 1 when k was added. 0 on
 * -ENOMEM. */
static uint64_t fn_id(struct pt_map *fns, uint32_t *nfns, struct fnkey k, int *fresh)
{
	uint64_t key = k.name << 32 | k.file;
	uint32_t id = pt_map_get(fns, key);

	*fresh = 0;
	if (id != PT_MAP_NONE)
		return id;
	if (k.name > UINT32_MAX || k.file > UINT32_MAX || pt_map_put(fns, key, *nfns + 1))
		return 0;
	*fresh = 1;
	return ++*nfns;
}

/* ---- the profile -------------------------------------------------------- */

/* Index + 1 of the module covering ip (modules are sorted by start), or 0. */
static uint64_t mapping_of(const struct pt_model *m, uint64_t ip)
{
	size_t lo = 0, hi = m->nmodules;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (m->modules[mid].start <= ip)
			lo = mid + 1;
		else
			hi = mid;
	}
	/* lo - 1 is the last module starting at or below ip; modules may
	 * overlap (a library reloaded elsewhere): look back a little */
	for (size_t k = lo; k > 0 && lo - k < 64; k--) {
		const struct pt_mmodule *mod = &m->modules[k - 1];

		if (ip >= mod->start && ip < mod->end)
			return k;
	}
	return 0;
}

static void value_type(struct pt_pb *p, struct pt_pb *tmp, struct strtab *st,
		       uint32_t field, const char *type, const char *unit)
{
	pt_pb_reset(tmp);
	pt_pb_uint(tmp, 1, st_id(st, type));
	pt_pb_uint(tmp, 2, st_id(st, unit));
	pt_pb_msg(p, field, tmp);
}

static void comment(struct pt_pb *p, struct strtab *st, const char *s)
{
	pt_pb_uint(p, 13, st_id(st, s));
}

static int build(const struct pt_model *m, struct pt_pb *p, struct strtab *st)
{
	struct pt_pb tmp, line;
	struct pt_map fns = { 0 };
	uint32_t nfns = 0;
	uint64_t *locs = NULL;
	size_t maxframes = 1;
	char buf[512];
	int rc = -ENOMEM;

	pt_pb_init(&tmp);
	pt_pb_init(&line);
	st_id(st, ""); /* string_table[0] must be "" */

	value_type(p, &tmp, st, 1, "alloc_objects", "count");
	value_type(p, &tmp, st, 1, "alloc_space", "bytes");
	value_type(p, &tmp, st, 1, "inuse_objects", "count");
	value_type(p, &tmp, st, 1, "inuse_space", "bytes");

	/* samples: leaf first, as the model's stacks are */
	for (size_t i = 0; i < m->nstacks; i++)
		if (m->stacks[i].nframes > maxframes)
			maxframes = m->stacks[i].nframes;
	locs = malloc(maxframes * sizeof *locs);
	if (!locs)
		goto out;
	for (size_t i = 0; i < m->nstacks; i++) {
		const struct pt_mstack *s = &m->stacks[i];
		uint64_t vals[4] = { s->alloc_count, s->alloc_bytes,
				     s->peak_count, s->peak_bytes };

		if (!vals[0] && !vals[1] && !vals[2] && !vals[3])
			continue;
		for (uint32_t j = 0; j < s->nframes; j++)
			locs[j] = (uint64_t)s->frames[j] + 1;
		pt_pb_reset(&tmp);
		pt_pb_packed(&tmp, 1, locs, s->nframes);
		/* int64 values: ours are below 2^63 in any real run; clamp so
		 * a hostile trace cannot make them negative */
		for (int k = 0; k < 4; k++)
			if (vals[k] > INT64_MAX)
				vals[k] = INT64_MAX;
		pt_pb_packed(&tmp, 2, vals, 4);
		pt_pb_msg(p, 2, &tmp);
	}

	for (size_t i = 0; i < m->nmodules; i++) {
		const struct pt_mmodule *mod = &m->modules[i];

		pt_pb_reset(&tmp);
		pt_pb_uint(&tmp, 1, i + 1);
		pt_pb_uint(&tmp, 2, mod->start);
		pt_pb_uint(&tmp, 3, mod->end);
		pt_pb_uint(&tmp, 4, mod->start >= mod->load_bias
					    ? mod->start - mod->load_bias : 0);
		pt_pb_uint(&tmp, 5, st_id(st, mod->path));
		if (mod->build_id[0])
			pt_pb_uint(&tmp, 6, st_id(st, mod->build_id));
		pt_pb_uint(&tmp, 7, 1); /* has_functions */
		pt_pb_msg(p, 3, &tmp);
	}

	for (size_t i = 0; i < m->nframes; i++) {
		const struct pt_mframe *f = &m->frames[i];
		struct fnkey k;
		const char *name;
		uint64_t fid;
		int fresh;

		if (f->kind == PT_FRAME_KIND_PYTHON)
			name = f->function[0] ? f->function : f->name;
		else if (f->kind == PT_FRAME_KIND_NATIVE && f->resolved)
			name = f->function;
		else
			name = f->name;
		k.name = st_id(st, name);
		k.file = st_id(st, f->file);
		fid = fn_id(&fns, &nfns, k, &fresh);
		if (!fid)
			goto out;
		if (fresh) {
			pt_pb_reset(&tmp);
			pt_pb_uint(&tmp, 1, fid);
			pt_pb_uint(&tmp, 2, k.name);
			/* system_name only for native symbols: pprof demangles
			 * it, and its C++ simplifier would strip a Python
			 * name like "<module>" to nothing */
			if (f->kind == PT_FRAME_KIND_NATIVE && f->resolved)
				pt_pb_uint(&tmp, 3, k.name);
			pt_pb_uint(&tmp, 4, k.file);
			pt_pb_msg(p, 5, &tmp);
		}
		pt_pb_reset(&line);
		pt_pb_uint(&line, 1, fid);
		pt_pb_uint(&line, 2, f->line);
		pt_pb_reset(&tmp);
		pt_pb_uint(&tmp, 1, i + 1);
		if (f->kind == PT_FRAME_KIND_NATIVE) {
			pt_pb_uint(&tmp, 2, mapping_of(m, f->ip));
			pt_pb_uint(&tmp, 3, f->ip);
		}
		pt_pb_msg(&tmp, 4, &line);
		pt_pb_msg(p, 4, &tmp);
	}

	pt_pb_uint(p, 9, m->start_unix_ns > INT64_MAX ? 0 : m->start_unix_ns);
	pt_pb_uint(p, 10, m->duration_ns > INT64_MAX ? 0 : m->duration_ns);
	value_type(p, &tmp, st, 11, "space", "bytes");
	pt_pb_uint(p, 12, m->sample_bytes > INT64_MAX ? 0 : m->sample_bytes);

	snprintf(buf, sizeof buf, "peaktrace %s", PT_VERSION);
	comment(p, st, buf);
	if (m->cmdline[0]) {
		char *c = malloc(strlen(m->cmdline) + 16);

		if (!c)
			goto out;
		sprintf(c, "command: %s", m->cmdline);
		comment(p, st, c);
		free(c);
	}
	snprintf(buf, sizeof buf, "pid %u, peak %llu bytes at %.3f s",
		 m->pid, (unsigned long long)m->peak_bytes,
		 (double)m->peak_t_ns / 1e9);
	comment(p, st, buf);
	if (m->drops || m->ntrips || m->truncated || m->chunks_skipped) {
		snprintf(buf, sizeof buf, "incomplete: %llu events dropped, "
			 "%zu kill-switch trips, %s, %llu chunks skipped",
			 (unsigned long long)m->drops, m->ntrips,
			 m->truncated ? "truncated" : "not truncated",
			 (unsigned long long)m->chunks_skipped);
		comment(p, st, buf);
	}
	pt_pb_uint(p, 14, st_id(st, "inuse_space"));

	rc = st->err ? st->err : pt_pb_error(p) ? pt_pb_error(p)
						: pt_pb_error(&tmp);
out:
	free(locs);
	pt_map_free(&fns);
	pt_pb_free(&tmp);
	pt_pb_free(&line);
	return rc;
}

/* gzip (RFC 1952) of data[0..n) to out. */
static int gzip_to(FILE *out, const uint8_t *data, size_t n)
{
	z_stream zs;
	uint8_t buf[65536];
	int zrc, rc = 0;

	memset(&zs, 0, sizeof zs);
	if (deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8,
			 Z_DEFAULT_STRATEGY) != Z_OK)
		return -ENOMEM;
	zs.next_in = (Bytef *)data;
	do {
		/* feed at most 1 GiB at a time (avail_in is a uInt) */
		if (zs.avail_in == 0 && n) {
			size_t k = n > (1u << 30) ? (1u << 30) : n;

			zs.avail_in = (uInt)k;
			n -= k;
		}
		zs.next_out = buf;
		zs.avail_out = sizeof buf;
		zrc = deflate(&zs, n ? Z_NO_FLUSH : Z_FINISH);
		if (zrc == Z_STREAM_ERROR) {
			rc = -EIO;
			break;
		}
		if (fwrite(buf, 1, sizeof buf - zs.avail_out, out) !=
		    sizeof buf - zs.avail_out) {
			rc = -EIO;
			break;
		}
	} while (zrc != Z_STREAM_END);
	deflateEnd(&zs);
	return rc;
}

int pt_render_pprof(const struct pt_model *m, FILE *out,
		    const struct pt_render_opts *o)
{
	struct strtab st = { 0 };
	struct pt_pb body, all;
	int rc;

	(void)o;
	if (!m || !out)
		return -EINVAL;
	pt_pb_init(&body);
	pt_pb_init(&all);
	pt_pb_init(&st.out);
	rc = build(m, &body, &st);
	if (rc)
		goto out;
	/* the string table (field 6) may come anywhere in the message: the
	 * body refers to indexes only */
	if (st.out.len) {
		all = body;
		pt_pb_init(&body);
		if (!all.p || all.len + st.out.len > all.cap) {
			uint8_t *np = realloc(all.p, all.len + st.out.len);

			if (!np) {
				rc = -ENOMEM;
				goto out;
			}
			all.p = np;
			all.cap = all.len + st.out.len;
		}
		memcpy(all.p + all.len, st.out.p, st.out.len);
		all.len += st.out.len;
	}
	rc = gzip_to(out, all.p ? all.p : (const uint8_t *)"", all.len);
	if (!rc && (fflush(out) || ferror(out)))
		rc = -EIO;
out:
	pt_pb_free(&body);
	pt_pb_free(&all);
	st_free(&st);
	return rc;
}
