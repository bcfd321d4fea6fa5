/*
 * banned.h: APIs that runtime code (contracts/, failpoints/, core/, shims/)
 * must not call, in the style of git's banned.h. Include it LAST in every
 * runtime .c file: a banned call then fails to compile with a name that
 * says why.
 *
 * Why each is banned inside the profiled process:
 *  - malloc family: we are the allocator's interposer; a call from inside
 *    the runtime recurses, and the runtime's memory must be bounded and
 *    come from its own mmap'd arenas.
 *  - stdio: takes locks (deadlock on fork or from a signal handler) and
 *    allocates buffers.
 *  - assert/abort/exit: the runtime must never end the host program;
 *    contracts and the kill-switch replace them.
 *
 * The CI check ci/check-banned.sh enforces the same list on the sources and,
 * on the release libpeaktrace.so, on the imported symbols.
 */
#ifndef PT_BANNED_H
#define PT_BANNED_H

#define PT_BANNED(func) sorry_##func##_is_banned_in_peaktrace_runtime_code

#undef malloc
#define malloc(...) PT_BANNED(malloc)
#undef calloc
#define calloc(...) PT_BANNED(calloc)
#undef realloc
#define realloc(...) PT_BANNED(realloc)
#undef free
#define free(...) PT_BANNED(free)
#undef strdup
#define strdup(...) PT_BANNED(strdup)
#undef strndup
#define strndup(...) PT_BANNED(strndup)
#undef printf
#define printf(...) PT_BANNED(printf)
#undef fprintf
#define fprintf(...) PT_BANNED(fprintf)
#undef sprintf
#define sprintf(...) PT_BANNED(sprintf)
#undef snprintf
#define snprintf(...) PT_BANNED(snprintf)
#undef vsnprintf
#define vsnprintf(...) PT_BANNED(vsnprintf)
#undef puts
#define puts(...) PT_BANNED(puts)
#undef fputs
#define fputs(...) PT_BANNED(fputs)
#undef fopen
#define fopen(...) PT_BANNED(fopen)
#undef fwrite
#define fwrite(...) PT_BANNED(fwrite)
#undef perror
#define perror(...) PT_BANNED(perror)
#undef assert
#define assert(...) PT_BANNED(assert)
#undef abort
#define abort(...) PT_BANNED(abort)
#undef exit
#define exit(...) PT_BANNED(exit)

#endif
