#!/usr/bin/env python3
"""peaktrace overhead benchmarks: ratios measured in one invocation.

Runs each benchmark program bare (glibc), under a do-nothing interposer
(bench/floor.c: the cost of LD_PRELOAD interposition itself, which any
such profiler pays), under the accounting floor (the same interposer
doing exact byte accounting and nothing else: what counting every call
costs before any sampling), under peaktrace sampled (default settings),
under peaktrace exact, and under heaptrack when installed, with the runs
interleaved (bare, floor, count, sampled, exact, heaptrack, bare, ...;
each repetition starts one variant later than the one before) so that
machine noise hits all of them alike. Prints the median of each and its
ratio to the bare median; the minimum and its ratio to the bare minimum
(on a shared machine noise only ever adds time: the minimum is the
steadier figure); and the paired ratio, the median over repetitions of
each run's ratio to the bare run of its own repetition (slow drifts of
the machine's load cancel). Also prints the runtime's memory (max RSS
over bare) and the trace growth rate for the realistic workload.

usage: bench/run.py [--build build/release] [--reps 5] [--quick]
Never a timed test: these machines are shared and noisy; read the ratios.
"""
import argparse
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time


def run(argv, env, cwd):
    t0 = time.monotonic()
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=cwd)
    _, _, ru = os.wait4(p.pid, 0)
    out = p.stdout.read().decode()
    err = p.stderr.read().decode()
    wall = time.monotonic() - t0
    return out, err, wall, ru.ru_maxrss * 1024


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build/release")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--quick", action="store_true", help="fewer iterations (smoke run)")
    ap.add_argument("--only", default="", help="run only the cases whose name contains this")
    a = ap.parse_args()
    build = os.path.abspath(a.build)
    lib = os.path.join(build, "shims", "libpeaktrace.so")
    pairs = os.path.join(build, "bench", "bench_malloc_pairs")
    workload = os.path.join(build, "bench", "bench_workload")
    floor = os.path.join(build, "bench", "libpt_bench_floor.so")
    count = os.path.join(build, "bench", "libpt_bench_count.so")
    for f in (lib, pairs, workload, floor, count):
        if not os.path.exists(f):
            sys.exit(f"bench: missing {f} (build the release preset first)")
    heaptrack = shutil.which("heaptrack")
    tmp = tempfile.mkdtemp(prefix="pt-bench-")
    base_env = {k: v for k, v in os.environ.items()
                if not k.startswith("PEAKTRACE_") and k != "LD_PRELOAD"}

    def variants():
        v = [("bare", lambda argv: (argv, base_env)),
             # a do-nothing interposer (bench/floor.c): what any LD_PRELOAD
             # profiler pays before it records anything
             ("floor", lambda argv: (argv, dict(base_env, LD_PRELOAD=floor))),
             # ... plus exact byte accounting alone (floor.c, PT_FLOOR_COUNT):
             # what counting every call costs, which peaktrace pays too
             ("count", lambda argv: (argv, dict(base_env, LD_PRELOAD=count))),
             ("sampled", lambda argv: (argv, dict(base_env, LD_PRELOAD=lib, PEAKTRACE_OUT=tmp))),
             ("exact", lambda argv: (argv, dict(base_env, LD_PRELOAD=lib, PEAKTRACE_OUT=tmp,
                                                PEAKTRACE_MODE="exact")))]
        if heaptrack:
            v.append(("heaptrack", lambda argv: (["heaptrack", "-o", os.path.join(tmp, "ht")] + argv,
                                                 base_env)))
        return v

    # pairs per thread: a run of the fast variants lasts 0.1-0.5 s (short
    # runs measured frequency ramps and scheduler noise); exact mode and
    # heaptrack, 10-50 times slower per pair, get a tenth as many (the
    # figure is per pair either way)
    n = 300000 if a.quick else 2000000
    slow_div = 10
    rounds = 30 if a.quick else 100
    cases = []
    for threads in (1, 2):
        for lo, hi in ((16, 16), (16, 1024), (1024, 16384), (16, 65536)):
            cases.append((f"malloc/free {threads}T {lo}-{hi} B", "ns/pair",
                          [pairs, str(threads), str(lo), str(hi),
                           str(n * 5 if hi <= 1024 else n)],
                          lambda out: float(re.search(r"ns_per_pair (\S+)", out).group(1))))
    cases.append(("workload (log processing)", "s",
                  [workload, str(rounds)],
                  lambda out: float(re.search(r"seconds (\S+)", out).group(1))))

    print(f"peaktrace benchmarks: {a.reps} interleaved repetitions, medians; "
          f"heaptrack {'found' if heaptrack else 'not installed'}")
    print(f"{'case':34} {'variant':10} {'median':>10} {'ratio':>7}")
    for name, unit, argv, parse in cases:
        if a.only not in name:
            continue
        results = {}
        rss = {}
        trace_rate = []
        for rep in range(a.reps):
            # each repetition starts one variant later: none always runs
            # right after another (heaptrack's large output, exact mode's
            # long runs) or always first
            vs = variants()
            k = rep % len(vs)
            for vname, mk in vs[k:] + vs[:k]:
                for f in os.listdir(tmp):
                    p = os.path.join(tmp, f)
                    if os.path.isfile(p):
                        os.unlink(p)
                # the runs before wrote traces of up to tens of MiB (exact
                # mode, heaptrack): their writeback is not left to slow
                # this run's own writes
                os.sync()
                run_argv = argv
                if vname in ("exact", "heaptrack") and argv[0] == pairs:
                    run_argv = argv[:-1] + [str(max(int(argv[-1]) // slow_div, 1000))]
                cmd, env = mk(run_argv)
                out, err, wall, maxrss = run(cmd, env, tmp)
                try:
                    results.setdefault(vname, []).append(parse(out))
                except AttributeError:
                    sys.exit(f"bench: {vname} run of {name} failed: {err[-500:]}")
                rss.setdefault(vname, []).append(maxrss)
                if vname == "sampled":
                    size = sum(os.path.getsize(os.path.join(tmp, f)) for f in os.listdir(tmp)
                               if f.endswith(".ptrace"))
                    trace_rate.append(size / max(wall, 1e-3) * 60)
        bare = statistics.median(results["bare"])
        for vname, _ in variants():
            vals = results[vname]
            m = statistics.median(vals)
            # paired: the median of each repetition's own ratio to its bare
            # run (the two ran seconds apart, so slow drifts of the
            # machine's load cancel)
            paired = statistics.median(v / b for v, b in zip(vals, results["bare"]))
            print(f"{name:34} {vname:10} {m:10.3f} {m / bare:7.3f}x  {unit}"
                  f"   (min {min(vals):.3f}, {min(vals) / min(results['bare']):.3f}x;"
                  f" paired {paired:.3f}x)")
        print(f"{'':34} sampled over the interposition floor: "
              f"{statistics.median(results['sampled']) / statistics.median(results['floor']):.3f}x")
        print(f"{'':34} sampled over the accounting floor: "
              f"{statistics.median(results['sampled']) / statistics.median(results['count']):.3f}x")
        if "workload" in name:
            extra = (statistics.median(rss["sampled"]) - statistics.median(rss["bare"])) / 2**20
            extra_x = (statistics.median(rss["exact"]) - statistics.median(rss["bare"])) / 2**20
            print(f"{'':34} runtime memory (max RSS over bare): sampled {extra:.1f} MiB, "
                  f"exact {extra_x:.1f} MiB")
            print(f"{'':34} trace growth, sampled: {statistics.median(trace_rate) / 2**20:.3f} MiB/min")
        sys.stdout.flush()
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
