/*
 * test_symbolize.c: native symbolization on real binaries: this test
 * executable itself (a static function, found through .symtab, with its
 * DWARF line: the test is built with -g, see test_symbolize.cmake) and
 * the C library (.dynsym), registered exactly as the runtime's writer
 * registers modules (dl_iterate_phdr: load bias, PT_LOAD span). Also the
 * fallbacks: a missing file gives module+offset, a non-regular file is
 * refused without hanging, overlapping modules resolve to the later one,
 * and the model names a native frame of a trace by its symbol.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dlfcn.h>
#include <unistd.h>
#include <link.h>

#include "core/elfnote.h"
#include "report/symbolize.h"
#include "reptest.h"

/* The function the tests resolve; static, so only .symtab knows it. */
static const int target_first_line = __LINE__ + 1;
static __attribute__((noinline, used)) int pt_static_target(int x)
{
	volatile int y = x * 3;

	return y + 1;
}

struct span {
	uintptr_t want;     /* an address inside the object */
	uint64_t bias, start, end;
	char path[512];
	char build_id[2 * PT_FMT_MAX_BUILD_ID + 1]; /* hex, as the model has it */
	int found;
};

static int find_span(struct dl_phdr_info *info, size_t size, void *data)
{
	struct span *s = data;
	uint64_t lo = UINT64_MAX, hi = 0;
	(void)size;

	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];

		if (ph->p_type != PT_LOAD)
			continue;
		uint64_t a = info->dlpi_addr + ph->p_vaddr;
		if (a < lo)
			lo = a;
		if (a + ph->p_memsz > hi)
			hi = a + ph->p_memsz;
	}
	if (s->want < lo || s->want >= hi)
		return 0;
	s->bias = info->dlpi_addr;
	s->start = lo;
	s->end = hi;
	snprintf(s->path, sizeof s->path, "%s",
		 info->dlpi_name && info->dlpi_name[0] ? info->dlpi_name
						       : "/proc/self/exe");
	/* the build-id, read the way the runtime's writer reads it */
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		uint8_t bid[PT_FMT_MAX_BUILD_ID];
		size_t n;

		if (ph->p_type != PT_NOTE)
			continue;
		n = pt_note_build_id((const uint8_t *)(info->dlpi_addr +
						       ph->p_vaddr),
				     ph->p_filesz, ph->p_align, bid, sizeof bid);
		for (size_t k = 0; k < n; k++)
			snprintf(s->build_id + 2 * k, 3, "%02x", bid[k]);
		if (n)
			break;
	}
	s->found = 1;
	return 1;
}

static struct span span_of(const void *addr)
{
	struct span s = { .want = (uintptr_t)addr };

	dl_iterate_phdr(find_span, &s);
	assert_true(s.found);
	return s;
}

static void static_function_of_this_executable(void **state)
{
	struct span sp = span_of((const void *)pt_static_target);
	uint64_t ip = (uint64_t)(uintptr_t)pt_static_target;
	struct pt_sym *s;
	struct pt_sym_frame f;
	(void)state;

	assert_int_equal(pt_static_target(1), 4);
	assert_int_equal(pt_sym_new(&s, 1), 0);
	assert_int_equal(pt_sym_add_module(s, sp.path, sp.bias, sp.start,
					   sp.end, sp.build_id), 0);
	/* the innermost frame: ip itself */
	assert_int_equal(pt_sym_lookup(s, ip + 2, 0, &f), 1);
	assert_string_equal(f.symbol, "pt_static_target");
	assert_int_equal(f.symbol_offset, 2);
	assert_string_equal(f.module, sp.path);
	assert_int_equal(f.module_offset, ip + 2 - sp.bias);
	/* DWARF line of the function's first instruction */
	assert_int_equal(pt_sym_lookup(s, ip, 0, &f), 1);
	assert_non_null(strstr(f.file, "test_symbolize.c"));
	assert_true(f.line >= (uint32_t)target_first_line &&
		    f.line <= (uint32_t)target_first_line + 2);
	/* a return address just past the function's first byte: ip - 1 is
	 * looked up, still inside it */
	assert_int_equal(pt_sym_lookup(s, ip + 1, 1, &f), 1);
	assert_string_equal(f.symbol, "pt_static_target");
	/* ip as a return address: ip - 1 lies before the function */
	pt_sym_lookup(s, ip, 1, &f);
	assert_string_not_equal(f.symbol, "pt_static_target");
	assert_int_equal(pt_sym_warning_count(s), 0);
	pt_sym_free(s);
}

static void c_library_function_through_dynsym(void **state)
{
	void *fn = dlsym(RTLD_DEFAULT, "getaddrinfo");
	struct span sp;
	struct pt_sym *s;
	struct pt_sym_frame f;
	(void)state;

	assert_non_null(fn);
	sp = span_of(fn);
	assert_int_equal(pt_sym_new(&s, 1), 0);
	assert_int_equal(pt_sym_add_module(s, sp.path, sp.bias, sp.start,
					   sp.end, sp.build_id), 0);
	assert_int_equal(pt_sym_lookup(s, (uint64_t)(uintptr_t)fn + 1, 0, &f),
			 1);
	/* the name found may be an alias: it must name the same code */
	assert_ptr_equal(dlsym(RTLD_DEFAULT, f.symbol), fn);

	/* a versioned symbol ("__libc_start_main@@GLIBC_2.34" in .dynsym)
	 * is named without its version */
	void *lsm = dlvsym(RTLD_DEFAULT, "__libc_start_main", "GLIBC_2.34");
	if (lsm) {
		struct span lp = span_of(lsm);

		if (lp.start != sp.start) /* under ASan getaddrinfo is libasan's */
			assert_int_equal(pt_sym_add_module(s, lp.path, lp.bias,
							   lp.start, lp.end,
							   lp.build_id), 0);
		assert_int_equal(pt_sym_lookup(s, (uint64_t)(uintptr_t)lsm + 1,
					       0, &f), 1);
		assert_string_equal(f.symbol, "__libc_start_main");
	}
	pt_sym_free(s);
}

static void missing_file_gives_module_offset(void **state)
{
	struct pt_sym *s;
	struct pt_sym_frame f;
	(void)state;

	assert_int_equal(pt_sym_new(&s, 1), 0);
	pt_sym_add_module(s, "/nonexistent/libx.so", 0x10000, 0x10000, 0x20000, NULL);
	pt_sym_add_module(s, "/dev/zero", 0x30000, 0x30000, 0x40000, NULL);
	pt_sym_add_module(s, "linux-vdso.so.1", 0x50000, 0x50000, 0x51000, NULL);
	assert_int_equal(pt_sym_lookup(s, 0x10abc, 1, &f), 0);
	assert_string_equal(f.module, "/nonexistent/libx.so");
	assert_int_equal(f.module_offset, 0xabc);
	assert_string_equal(f.symbol, "");
	assert_int_equal(pt_sym_lookup(s, 0x30010, 0, &f), 0);
	assert_string_equal(f.module, "/dev/zero");
	assert_int_equal(pt_sym_lookup(s, 0x50010, 0, &f), 0);
	assert_string_equal(f.module, "linux-vdso.so.1");
	assert_int_equal(pt_sym_lookup(s, 0x25000, 0, &f), 0);
	assert_string_equal(f.module, "");
	/* one warning per unreadable file, none for the vdso */
	assert_int_equal(pt_sym_warning_count(s), 2);
	assert_string_equal(pt_sym_warning(s, 0),
			    "cannot read symbols of '/nonexistent/libx.so': "
			    "No such file or directory");
	assert_string_equal(pt_sym_warning(s, 1),
			    "cannot read symbols of '/dev/zero': not a regular "
			    "file");
	pt_sym_free(s);
}

/* A module file rebuilt since the trace was recorded (another build-id)
 * must not lend its symbols: they would look right and be wrong. */
static void changed_file_is_not_trusted(void **state)
{
	struct span sp = span_of((const void *)pt_static_target);
	uint64_t ip = (uint64_t)(uintptr_t)pt_static_target;
	char other[sizeof sp.build_id];
	struct pt_sym *s;
	struct pt_sym_frame f;
	(void)state;

	assert_true(strlen(sp.build_id) >= 16); /* gcc and ld write one */
	snprintf(other, sizeof other, "%s", sp.build_id);
	other[5] = other[5] == '0' ? '1' : '0';
	assert_int_equal(pt_sym_new(&s, 1), 0);
	assert_int_equal(pt_sym_add_module(s, sp.path, sp.bias, sp.start,
					   sp.end, other), 0);
	assert_int_equal(pt_sym_lookup(s, ip + 2, 0, &f), 0);
	assert_string_equal(f.symbol, "");
	assert_string_equal(f.module, sp.path);
	assert_int_equal(f.module_offset, ip + 2 - sp.bias);
	assert_int_equal(pt_sym_warning_count(s), 1);
	assert_non_null(strstr(pt_sym_warning(s, 0), "build-id differs"));
	pt_sym_free(s);
}

/* The C library's file gone (a container image since replaced): with
 * its build-id recorded, the separate debuginfo (libc6-dbg, installed by
 * scripts/install-deps.sh --test) still names its functions. */
static void gone_file_resolves_by_build_id(void **state)
{
	void *fn = dlsym(RTLD_DEFAULT, "getaddrinfo");
	struct span sp;
	struct pt_sym *s;
	struct pt_sym_frame f;
	char dbg[600];
	(void)state;

	sp = span_of(fn);
	assert_true(strlen(sp.build_id) >= 16);
	snprintf(dbg, sizeof dbg, "/usr/lib/debug/.build-id/%.2s/%s.debug",
		 sp.build_id, sp.build_id + 2);
	if (access(dbg, R_OK) != 0)
		skip(); /* no separate debuginfo for this libc here */
	assert_int_equal(pt_sym_new(&s, 1), 0);
	assert_int_equal(pt_sym_add_module(s, "/gone/libc.so.6", sp.bias,
					   sp.start, sp.end, sp.build_id), 0);
	assert_int_equal(pt_sym_lookup(s, (uint64_t)(uintptr_t)fn + 1, 0, &f),
			 1);
	assert_ptr_equal(dlsym(RTLD_DEFAULT, f.symbol), fn);
	assert_string_equal(f.module, "/gone/libc.so.6");
	assert_int_equal(pt_sym_warning_count(s), 0);
	pt_sym_free(s);
}

static void overlapping_modules_resolve_to_the_later(void **state)
{
	struct pt_sym *s;
	struct pt_sym_frame f;
	(void)state;

	assert_int_equal(pt_sym_new(&s, 0), 0);
	pt_sym_add_module(s, "/big", 0x1000, 0x1000, 0x100000, NULL);
	pt_sym_add_module(s, "/old", 0x200000, 0x200000, 0x300000, NULL);
	pt_sym_add_module(s, "/new", 0x250000, 0x250000, 0x260000, NULL);
	pt_sym_add_module(s, "/empty", 0x5000, 0x5000, 0x5000, NULL); /* ignored */
	pt_sym_lookup(s, 0x255000, 0, &f);
	assert_string_equal(f.module, "/new");
	assert_int_equal(f.module_offset, 0x5000);
	pt_sym_lookup(s, 0x240000, 0, &f);
	assert_string_equal(f.module, "/old");
	pt_sym_lookup(s, 0x5000, 0, &f);
	assert_string_equal(f.module, "/big");
	pt_sym_lookup(s, 0x100000, 0, &f);
	assert_string_equal(f.module, "");
	/* read_files 0: no file opened, no warning */
	assert_int_equal(pt_sym_warning_count(s), 0);
	pt_sym_free(s);
}

static void model_names_native_frames_by_symbol(void **state)
{
	struct span sp = span_of((const void *)pt_static_target);
	uint64_t ip = (uint64_t)(uintptr_t)pt_static_target;
	uint64_t frames[] = { PT_FRAME_NATIVE(ip + 3),
			      PT_FRAME_NATIVE(ip + 5) };
	struct tb *t = tb_new(1 << 16);
	(void)state;

	rt_header(t);
	rt_string(t, 1, sp.path);
	rt_module(t, 1, 1, sp.bias, sp.start, sp.end);
	rt_stack(t, 1, frames, 2);
	rt_alloc(t, 1, 0x1000, 64, 1);
	rt_peak(t, 1, 64);
	tb_flush(t);

	struct pt_model *m = rt_load(t, 1);
	const struct pt_mstack *st = rt_stack_by_id(m, 1);
	const struct pt_mframe *f0 = &m->frames[st->frames[0]];
	char *out = rt_render(m, pt_render_collapsed, NULL);

	assert_int_equal(f0->kind, PT_FRAME_KIND_NATIVE);
	assert_true(f0->resolved);
	assert_string_equal(f0->name, "pt_static_target");
	assert_int_equal(f0->ip, ip + 3);
	assert_non_null(strstr(f0->file, "test_symbolize.c"));
	assert_true(f0->line > 0);
	/* no file:line in the collapsed names of native frames */
	assert_string_equal(out, "pt_static_target;pt_static_target 64\n");
	free(out);
	pt_model_free(m);

	/* the same trace without reading files */
	m = rt_load(t, 0);
	st = rt_stack_by_id(m, 1);
	f0 = &m->frames[st->frames[0]];
	assert_false(f0->resolved);
	char want[600];
	const char *base = strrchr(sp.path, '/');
	snprintf(want, sizeof want, "%s+0x%llx", base ? base + 1 : sp.path,
		 (unsigned long long)(ip + 3 - sp.bias));
	assert_string_equal(f0->name, want);
	pt_model_free(m);
	tb_free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(static_function_of_this_executable),
		cmocka_unit_test(c_library_function_through_dynsym),
		cmocka_unit_test(missing_file_gives_module_offset),
		cmocka_unit_test(changed_file_is_not_trusted),
		cmocka_unit_test(gone_file_resolves_by_build_id),
		cmocka_unit_test(overlapping_modules_resolve_to_the_later),
		cmocka_unit_test(model_names_native_frames_by_symbol),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
