"""os.fork() called from __main__ by a program with no thread of its own:
Python 3.12 and later print a DeprecationWarning there when the process
has another thread, which the profiler's writer must not be. The parent
allocates before the fork and after it, and exits normally.

usage: fork_main.py
"""
import os


def before():
    return [bytearray(1 << 20) for _ in range(8)]  # @site before


def after():
    return [bytearray(1 << 20) for _ in range(16)]  # @site after


keep = before()
pid = os.fork()
if pid == 0:
    os._exit(7)
_, status = os.waitpid(pid, 0)
more = after()
print("child exit status %d, parent holds %d MiB"
      % (os.waitstatus_to_exitcode(status), len(keep) + len(more)))
