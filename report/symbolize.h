/*
 * symbolize.h: native instruction pointers to module, symbol and source
 * line, from the MODULE records of a trace and the ELF files on disk.
 *
 *     struct pt_sym *s;
 *     pt_sym_new(&s, 1);
 *     pt_sym_add_module(s, "/usr/lib/libfoo.so", bias, start, end, "5e1d...");
 *     ...
 *     struct pt_sym_frame f;
 *     pt_sym_lookup(s, ip, is_return_address, &f);
 *     pt_sym_free(s);
 *
 * The strings of a struct pt_sym_frame stay valid until pt_sym_free. Not
 * thread-safe. Report-side code: allocates, opens files.
 */
#ifndef PT_SYMBOLIZE_H
#define PT_SYMBOLIZE_H

#include <stddef.h>
#include <stdint.h>

struct pt_sym;

struct pt_sym_frame {
	const char *module;     /* path of the module covering ip; "" if none */
	uint64_t module_offset; /* ip - load_bias (an ELF virtual address) */
	const char *symbol;     /* function symbol; "" when unresolved */
	uint64_t symbol_offset; /* ip - symbol start; 0 when unresolved */
	const char *file;       /* source file from DWARF; "" when unknown */
	uint32_t line;          /* 1-based; 0 when unknown */
};

/* read_files: 0 maps ips to modules only (no file is opened: fuzzers,
 * tests). Returns 0 or -ENOMEM. */
int pt_sym_new(struct pt_sym **out, int read_files);

/* Records one MODULE: [start, end) runtime addresses, load_bias = runtime
 * address - ELF virtual address, build_id its GNU build-id in lower-case
 * hex (NULL or "": not recorded). Modules may overlap (a library unloaded
 * and another loaded at its place): the one added LAST wins. A module with
 * start >= end is ignored. The path is copied. When the file at path has
 * another build-id than the recorded one (rebuilt or upgraded since), its
 * symbols are not used: the separate debuginfo file of the recorded
 * build-id is, when installed; otherwise frames stay module+offset, with a
 * warning. Returns 0 or -ENOMEM. */
int pt_sym_add_module(struct pt_sym *s, const char *path, uint64_t load_bias,
		      uint64_t start, uint64_t end, const char *build_id);

/* Resolves ip. is_return: ip is a return address (every frame of a stack
 * but the innermost), so ip - 1 is looked up, which lies inside the call
 * instruction (the call may be the last instruction of its function).
 * Always fills *f; returns 1 if a symbol was found, 0 if not. The module
 * file is opened at its first lookup and kept (cache per module); one that
 * cannot be read (missing, not a regular file, not ELF) gives module +
 * offset. */
int pt_sym_lookup(struct pt_sym *s, uint64_t ip, int is_return,
		  struct pt_sym_frame *f);

/* Problems met while reading module files ("cannot read symbols of
 * '/usr/lib/libfoo.so': No such file or directory"), oldest first, one per
 * module; valid until pt_sym_free. */
size_t pt_sym_warning_count(const struct pt_sym *s);
const char *pt_sym_warning(const struct pt_sym *s, size_t i);

void pt_sym_free(struct pt_sym *s);

#endif
