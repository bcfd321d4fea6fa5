"""A multiprocessing Pool used as a context manager: leaving the with
block calls terminate(), which sends SIGTERM to workers that may be idle,
or already on their way out through os._exit. Each worker that ran a task
writes its pid to PIDFILE.

usage: pool_terminate.py fork|spawn|forkserver PIDFILE
"""
import multiprocessing
import os
import sys


def task(n):
    block = bytearray(n)  # @site task
    return os.getpid(), len(block)


def main():
    ctx = multiprocessing.get_context(sys.argv[1])
    with ctx.Pool(2) as pool:
        done = pool.map(task, [24 << 20] * 6, chunksize=1)
    with open(sys.argv[2], "w") as f:
        f.write(" ".join(str(pid) for pid in sorted({pid for pid, _ in done})))
    print("tasks", len(done))


if __name__ == "__main__":
    main()
