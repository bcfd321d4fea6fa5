"""Child processes: multiprocessing with the fork and the spawn start
methods, and a subprocess running this file again. Each child's work
function allocates at its own line and writes its pid to PIDDIR/KIND.pid.

usage: children.py fork|spawn|subprocess PIDDIR
       children.py --child subprocess PIDDIR   (the subprocess itself)
"""
import multiprocessing
import os
import subprocess
import sys


def record(kind, piddir):
    with open(os.path.join(piddir, kind + ".pid"), "w") as f:
        f.write("%d\n" % os.getpid())


def child_work(kind, piddir):
    data = [bytearray(1 << 20) for _ in range(20)]  # @site child
    record(kind, piddir)
    return sum(map(len, data))


def parent_work():
    return [bytearray(1 << 20) for _ in range(8)]  # @site parent


def main():
    if sys.argv[1] == "--child":
        child_work(sys.argv[2], sys.argv[3])
        sys.exit(0)
    kind, piddir = sys.argv[1], sys.argv[2]
    keep = parent_work()
    if kind == "subprocess":
        rc = subprocess.call([sys.executable, os.path.abspath(__file__), "--child", kind, piddir])
    else:
        ctx = multiprocessing.get_context(kind)
        p = ctx.Process(target=child_work, args=(kind, piddir))
        p.start()
        p.join()
        rc = p.exitcode
    record("parent", piddir)
    print("%s child exit status %d, parent holds %d MiB" % (kind, rc, len(keep)))
    sys.exit(rc)


if __name__ == "__main__":
    main()
