/*
 * pyspy_spin.c: a C helper for prog_daemon.py, loaded with ctypes. Its
 * threads malloc in a loop with the GIL released (ctypes releases it around
 * foreign calls) and never return to Python, so they keep allocating while
 * the interpreter finalizes and frees their thread states: the case the
 * "finalizing by another thread" gate of pt_py_walk exists for.
 * malloc/free resolve to the preloaded hook, like any other library's.
 */
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>

__attribute__((visibility("default"))) void pyspy_spin(size_t size);
__attribute__((visibility("default"))) long pyspy_spin_count(void);
__attribute__((visibility("default"))) void pyspy_spin_wait(long more);

static atomic_long iterations;

/* Never returns: malloc + free of size bytes, forever. */
void pyspy_spin(size_t size)
{
	for (;;) {
		void *volatile p = malloc(size);
		free(p);
		atomic_fetch_add(&iterations, 1);
	}
}

long pyspy_spin_count(void)
{
	return atomic_load(&iterations);
}

/* Returns once the spinning threads have done `more` iterations: progress,
 * not time. */
void pyspy_spin_wait(long more)
{
	long target = atomic_load(&iterations) + more;
	while (atomic_load(&iterations) < target)
		sched_yield();
}
