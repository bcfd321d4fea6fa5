#!/usr/bin/env python3
"""peaktrace overhead on Python workloads: ratios measured in one invocation.

Runs each workload of bench/py_workload.py (small-object churn; numpy
arrays where numpy is installed; the churn over 4 threads) under every
installed interpreter (each pyenv 3.9-3.13, the real binaries, and Debian's
/usr/bin/python3), in these variants:

  bare          the interpreter alone
  sampled       LD_PRELOAD=libpeaktrace.so, default settings
  exact         PEAKTRACE_MODE=exact
  heaptrack     `heaptrack python ...` (it sees malloc only: pymalloc's
                small objects live in mmap'd arenas it does not look into)
  heaptrack-pm  the same with PYTHONMALLOC=malloc, so that heaptrack sees
                every object, as peaktrace does

The repetitions are interleaved (each round runs every variant once, in an
order rotated from round to round) so that machine noise hits all variants
alike; the table gives the median of the workload's own time (start-up
excluded, as printed by the workload), its ratio to bare, the ratios of the
median wall-clock times and of the median CPU times (user + system, the
profiler's threads and heaptrack's helper process included; start-up and
exit work included; less sensitive than wall time to other jobs on a shared
machine) and the max RSS over bare.

usage: bench/py_bench.py --build build/release [--quick] [--reps N]
                         [--python PY ...] [--no-heaptrack]
Never a timed test: these machines are shared and noisy; read the ratios.
"""
import argparse
import glob
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
WORKLOAD = os.path.join(HERE, "py_workload.py")

# rounds of each workload: full run (about 0.4 s bare), --quick
ROUNDS = {"churn": (60, 15), "numpy": (60, 15), "threads": (80, 20)}


def interpreters():
    root = os.environ.get("PYENV_ROOT") or os.path.expanduser("~/.pyenv")
    found = []
    for minor in range(9, 14):
        for exe in sorted(glob.glob(f"{root}/versions/3.{minor}.*/bin/python3.{minor}")):
            found.append(exe)
    if os.path.exists("/usr/bin/python3"):
        found.append("/usr/bin/python3")
    return found


def version_of(py):
    out = subprocess.run([py, "-c", "import sys; print('%d.%d.%d' % sys.version_info[:3])"],
                         capture_output=True, text=True, check=True).stdout.strip()
    return out + (" (debian)" if py.startswith("/usr/bin/") else "")


def has_numpy(py):
    return subprocess.run([py, "-c", "import numpy"], capture_output=True).returncode == 0


def run_rss(argv, env, cwd):
    """Runs argv; returns (status, stdout, stderr, wall seconds, CPU seconds
    (user + system, of the process and the children it waited for: the
    profiler's own threads and helper processes count), max RSS bytes)."""
    t0 = time.monotonic()
    with tempfile.TemporaryFile() as fo, tempfile.TemporaryFile() as fe:
        p = subprocess.Popen(argv, stdout=fo, stderr=fe, env=env, cwd=cwd)
        _, status, ru = os.wait4(p.pid, 0)
        wall = time.monotonic() - t0
        fo.seek(0)
        fe.seek(0)
        out, err = fo.read().decode(), fe.read().decode()
    rc = os.waitstatus_to_exitcode(status)
    return rc, out, err, wall, ru.ru_utime + ru.ru_stime, ru.ru_maxrss * 1024


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default="build/release")
    ap.add_argument("--reps", type=int, help="rounds of interleaved runs (default 5, quick 3)")
    ap.add_argument("--quick", action="store_true", help="fewer rounds and repetitions")
    ap.add_argument("--python", action="append", help="interpreter(s) to measure "
                    "(default: every pyenv 3.9-3.13 and /usr/bin/python3)")
    ap.add_argument("--no-heaptrack", action="store_true")
    a = ap.parse_args()
    reps = a.reps or (3 if a.quick else 5)
    build = os.path.abspath(a.build)
    lib = os.path.join(build, "shims", "libpeaktrace.so")
    if not os.path.exists(lib):
        sys.exit(f"py_bench: missing {lib} (build the release preset first)")
    cache = os.path.join(build, "CMakeCache.txt")
    if os.path.exists(cache) and re.search(r"^PT_DEBUG:BOOL=ON$", open(cache).read(), re.M):
        print("py_bench: warning: this is a debug build (contracts and marks on); "
              "measure a release build", file=sys.stderr)
    heaptrack = None if a.no_heaptrack else shutil.which("heaptrack")
    pys = a.python or interpreters()
    tmp = tempfile.mkdtemp(prefix="pt-pybench-")
    base_env = {k: v for k, v in os.environ.items()
                if not k.startswith("PEAKTRACE_") and k not in ("LD_PRELOAD", "PYTHONMALLOC")}
    out_dir = os.path.join(tmp, "out")

    variants = [
        ("bare", lambda argv: (argv, base_env)),
        ("sampled", lambda argv: (argv, dict(base_env, LD_PRELOAD=lib, PEAKTRACE_OUT=out_dir))),
        ("exact", lambda argv: (argv, dict(base_env, LD_PRELOAD=lib, PEAKTRACE_OUT=out_dir,
                                           PEAKTRACE_MODE="exact"))),
    ]
    if heaptrack:
        ht = os.path.join(out_dir, "ht")
        variants.append(("heaptrack", lambda argv: ([heaptrack, "-o", ht] + argv, base_env)))
        variants.append(("heaptrack-pm", lambda argv: ([heaptrack, "-o", ht] + argv,
                                                       dict(base_env, PYTHONMALLOC="malloc"))))

    print(f"peaktrace python benchmarks: build {build}, {reps} interleaved rounds, medians; "
          f"heaptrack {'found' if heaptrack else 'not used'}")
    print(f"{'python':16} {'workload':8} {'variant':13} {'median s':>9} {'ratio':>7} "
          f"{'wall ratio':>10} {'CPU ratio':>9} {'RSS +MiB':>9}")
    summary = []
    for py in pys:
        ver = version_of(py)
        works = ["churn", "threads"] + (["numpy"] if has_numpy(py) else [])
        for work in works:
            rounds = ROUNDS[work][1 if a.quick else 0]
            argv = [py, WORKLOAD, work, str(rounds)]
            secs, walls, cpus, rss = {}, {}, {}, {}
            for r in range(reps):
                order = variants[r % len(variants):] + variants[:r % len(variants)]
                for vname, mk in order:
                    shutil.rmtree(out_dir, ignore_errors=True)
                    os.makedirs(out_dir)
                    cmd, env = mk(argv)
                    rc, out, err, wall, cpu, maxrss = run_rss(cmd, env, tmp)
                    m = re.search(r"^seconds (\S+)$", out, re.M)
                    if rc != 0 or not m:
                        sys.exit(f"py_bench: {ver} {work} {vname}: status {rc}: {err[-800:]}")
                    secs.setdefault(vname, []).append(float(m.group(1)))
                    walls.setdefault(vname, []).append(wall)
                    cpus.setdefault(vname, []).append(cpu)
                    rss.setdefault(vname, []).append(maxrss)
            bare = statistics.median(secs["bare"])
            bare_wall = statistics.median(walls["bare"])
            bare_cpu = statistics.median(cpus["bare"])
            bare_rss = statistics.median(rss["bare"])
            for vname, _ in variants:
                m = statistics.median(secs[vname])
                w = statistics.median(walls[vname])
                cpu = statistics.median(cpus[vname])
                extra = (statistics.median(rss[vname]) - bare_rss) / 2**20
                rss_col = f"{extra:9.1f}" if not vname.startswith("heaptrack") else f"{'-':>9}"
                print(f"{ver:16} {work:8} {vname:13} {m:9.3f} {m / bare:6.2f}x "
                      f"{w / bare_wall:9.2f}x {cpu / bare_cpu:8.2f}x {rss_col}")
                summary.append((ver, work, vname, m / bare))
            sys.stdout.flush()
    shutil.rmtree(tmp, ignore_errors=True)
    # one line per variant: the spread of its ratios over interpreters and workloads
    print()
    for vname, _ in variants[1:]:
        rs = sorted(r for _, _, v, r in summary if v == vname)
        if rs:
            print(f"{vname:13} ratio over all interpreters and workloads: median "
                  f"{statistics.median(rs):.2f}x, range {rs[0]:.2f}x-{rs[-1]:.2f}x")


if __name__ == "__main__":
    main()
