#!/usr/bin/env python3
"""End-to-end tests: real programs under the preloaded runtime.

One process per test case (ctest runs `e2e.py --build DIR CASE`), so a
crash or hang fails one case. Each case runs its program unprofiled and
profiled, compares what the user sees (stdout, stderr, exit status), and
reads the trace back through the `peaktrace` command (decode, report
--format collapsed), i.e. through the interface contract of DESIGN.md.

The build directory tells which build is under test: debug builds (contracts
abort, coverage marks on) get the coverage-mark assertions too.
"""
import argparse
import glob
import json
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))


class Ctx:
    def __init__(self, build):
        self.build = os.path.abspath(build)
        self.lib = os.path.join(self.build, "shims", "libpeaktrace.so")
        self.cli = os.path.join(self.build, "cli", "peaktrace")
        self.progs = os.path.join(self.build, "tests", "e2e")
        cache = open(os.path.join(self.build, "CMakeCache.txt")).read()
        self.debug = re.search(r"^PT_DEBUG:BOOL=ON$", cache, re.M) is not None
        self.tmp = tempfile.mkdtemp(prefix="pt-e2e-")

    def prog(self, name):
        return os.path.join(self.progs, "e2e_" + name)

    def run(self, argv, env=None, stdin=None, timeout=300, cwd=None):
        full_env = dict(os.environ)
        for k in list(full_env):
            if k.startswith("PEAKTRACE_") or k == "LD_PRELOAD":
                del full_env[k]
        full_env.update(env or {})
        p = subprocess.run(argv, input=stdin, capture_output=True, env=full_env,
                           timeout=timeout, cwd=cwd or self.tmp)
        return p.returncode, p.stdout, p.stderr

    def profile(self, argv, env=None, stdin=None, timeout=300, out=None):
        out = out or tempfile.mkdtemp(prefix="out-", dir=self.tmp)
        e = {"LD_PRELOAD": self.lib, "PEAKTRACE_OUT": out}
        e.update(env or {})
        rc, so, se = self.run(argv, e, stdin, timeout)
        traces = sorted(glob.glob(os.path.join(out, "peaktrace-*.ptrace")))
        return rc, so, se, traces, out

    def decode(self, trace, expect_rc=(0,)):
        rc, so, se = self.run([self.cli, "decode", trace])
        check(rc in expect_rc, f"decode exit {rc}, stderr: {se.decode()[:500]}")
        recs = [json.loads(l) for l in so.decode().splitlines() if l.strip()]
        return recs, se.decode()

    def alloc_stack_ids(self, trace):
        """(header, stack ids of the alloc records), read as a stream: the
        parent's trace of a busy forking program holds millions of records,
        which as a list of dicts took a gigabyte."""
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("PEAKTRACE_") and k != "LD_PRELOAD"}
        p = subprocess.Popen([self.cli, "decode", trace], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, cwd=self.tmp, env=env)
        hdr, ids = None, []
        for line in p.stdout:
            r = json.loads(line)
            if hdr is None:
                hdr = r
            elif r["type"] == "alloc":
                ids.append(r["stack_id"])
        err = p.stderr.read().decode()
        rc = p.wait()
        check(rc == 0, f"decode exit {rc}, stderr: {err[:500]}")
        check(hdr is not None, f"{trace}: decode printed nothing")
        return hdr, ids

    def header(self, trace):
        """The trace's first record, without decoding the rest (a busy
        parent's trace holds millions of records)."""
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("PEAKTRACE_") and k != "LD_PRELOAD"}
        p = subprocess.Popen([self.cli, "decode", trace], stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL, cwd=self.tmp, env=env)
        try:
            line = p.stdout.readline()
        finally:
            p.kill()
            p.wait()
        check(line.strip(), f"{trace}: decode printed nothing")
        return json.loads(line)

    def collapsed(self, trace):
        rc, so, se = self.run([self.cli, "report", trace, "--format", "collapsed"])
        check(rc == 0, f"report exit {rc}: {se.decode()[:500]}")
        stacks = {}
        for line in so.decode().splitlines():
            stack, _, n = line.rpartition(" ")
            check(stack and n.isdigit(), f"bad collapsed line {line!r}")
            stacks[stack] = stacks.get(stack, 0) + int(n)
        return stacks


class Failure(Exception):
    pass


def check(cond, msg):
    if not cond:
        raise Failure(msg)


def bytes_in(stacks, frame):
    """Bytes of every stack that has frame as one of its frames."""
    return sum(n for s, n in stacks.items() if frame in s.split(";"))


def same_as_unprofiled(c, argv, env=None, stdin=None, timeout=300):
    base = c.run(argv, stdin=stdin, timeout=timeout)
    rc, so, se, traces, out = c.profile(argv, env, stdin, timeout)
    check(rc == base[0], f"exit status {rc} != unprofiled {base[0]}; stderr {se[-800:]!r}")
    check(so == base[1], f"stdout differs:\n{so[:400]!r}\nvs\n{base[1][:400]!r}")
    check(se == base[2], f"stderr differs:\n{se[:800]!r}\nvs\n{base[2][:800]!r}")
    return traces, out


def marks(path):
    got = {}
    if os.path.exists(path):
        for line in open(path):
            name, _, n = line.strip().rpartition(" ")
            got[name] = got.get(name, 0) + int(n)
    return got


# ---- cases -------------------------------------------------------------------

CASES = {}


def case(fn):
    CASES[fn.__name__] = fn
    return fn


@case
def echo_same(c):
    traces, _ = same_as_unprofiled(c, [c.prog("echoer"), "5", "two words"],
                                   stdin=b"line one\nline two\n" * 100)
    check(len(traces) == 1, f"expected one trace, got {traces}")
    recs, warn = c.decode(traces[0])
    types = [r["type"] for r in recs]
    check(types[0] == "header" and types[-1] == "end", f"header..end expected: {types[:3]} {types[-3:]}")
    check(warn == "", f"unexpected warnings: {warn}")


def known_answer(c, env):
    traces, _ = same_as_unprofiled(c, [c.prog("known")], env)
    check(len(traces) == 1, f"one trace expected: {traces}")
    return c.collapsed(traces[0])


@case
def known_exact(c):
    st = known_answer(c, {"PEAKTRACE_MODE": "exact"})
    for site, want in (("site_large", 64 << 20), ("site_medium", 2048 * 10000),
                       ("site_small", 200000 * 100)):
        got = bytes_in(st, site)
        check(got == want, f"{site}: {got} bytes at the peak, want exactly {want}")
    check(bytes_in(st, "site_after") == 0, "site_after is after the peak")


@case
def known_sampled(c):
    # small interval: every site's estimate within 5%
    st = known_answer(c, {"PEAKTRACE_SAMPLE_BYTES": "4096"})
    for site, want in (("site_large", 64 << 20), ("site_medium", 2048 * 10000),
                       ("site_small", 200000 * 100)):
        got = bytes_in(st, site)
        check(abs(got - want) <= 0.05 * want, f"{site}: estimate {got}, want {want} +-5%")
    check(bytes_in(st, "site_after") == 0, "site_after is after the peak")


@case
def known_sampled_default(c):
    # Default interval S = 256 KiB: a 1 MiB block is sampled with probability
    # p = 1 - exp(-4) = 0.982 and weighted 1/p, so one run's estimate of the
    # 64 blocks has a standard error of 1.7%, and falls 5% short (5 or more
    # of 64 blocks missed) in about 1 run in 120. The mean of three runs has
    # a standard error of 1%: 5% is five of them (p < 1e-5), while a real
    # bias of 5% still fails.
    want = 64 << 20
    runs = [bytes_in(known_answer(c, {}), "site_large") for _ in range(3)]
    got = sum(runs) / len(runs)
    check(abs(got - want) <= 0.05 * want,
          f"site_large: mean estimate {got:.0f} over {runs}, want {want} +-5%")


@case
def rebuilt_binary(c):
    """MODULE records carry each object's build-id; a report made after the
    program was rebuilt does not name its frames from the new file (the
    names would look right and be wrong): module+offset and a warning."""
    src = os.path.join(HERE, "progs", "known.c")
    exe = os.path.join(c.tmp, "job")
    cc = shutil.which("cc") or shutil.which("gcc")
    check(cc, "a C compiler")

    def build(*flags):
        rc, _, se = c.run([cc, "-g", "-fno-inline", *flags, "-o", exe, src])
        check(rc == 0, f"cc: {se.decode()[:500]}")
        rc, so, _ = c.run(["readelf", "-n", exe])
        m = re.search(r"Build ID: ([0-9a-f]+)", so.decode())
        check(rc == 0 and m, "readelf -n shows the build-id")
        return m.group(1)

    bid = build("-O1")
    rc, _, se, traces, _ = c.profile([exe], {"PEAKTRACE_MODE": "exact"})
    check(rc == 0 and len(traces) == 1, f"status {rc}, traces {traces}: {se[-300:]!r}")
    recs, _ = c.decode(traces[0])
    strings = {r["id"]: r["str"] for r in recs if r["type"] == "string"}
    mods = {strings[r["path_string_id"]]: r["build_id"] for r in recs if r["type"] == "module"}
    check(mods.get(exe) == bid, f"exe's build-id {mods.get(exe)!r}, readelf says {bid}")
    check(any(len(v) >= 40 for k, v in mods.items() if "libc.so" in k), f"libc's build-id: {mods}")
    check(bytes_in(c.collapsed(traces[0]), "site_large") == 64 << 20, "site_large named before the rebuild")

    other = build("-O0")
    check(other != bid, "another build, another build-id")
    rc, so, se = c.run([c.cli, "report", traces[0], "--format", "collapsed"])
    check(rc == 0, f"report exit {rc}")
    check(b"build-id differs" in se, f"a warning names the cause: {se!r}")
    check(b"site_" not in so, f"no frame named from the rebuilt file:\n{so.decode()[:800]}")
    check(re.search(rb"(^|;)job\+0x[0-9a-f]+", so, re.M), f"job+0xOFF frames: {so.decode()[:500]}")

    check(build("-O1") == bid, "the same build again (reproducible)")
    check(bytes_in(c.collapsed(traces[0]), "site_large") == 64 << 20, "named again once the file matches")


@case
def unloaded_library(c):
    """A library loaded, allocating and unloaded between two reads of the
    module list (every 100 ms): dlclose describes it first, so the report
    still names its functions."""
    cc = shutil.which("cc") or shutil.which("gcc")
    check(cc, "a C compiler")
    lib = os.path.join(c.tmp, "libplug.so")
    rc, _, se = c.run([cc, "-shared", "-fPIC", "-g", "-O1", "-o", lib,
                       os.path.join(HERE, "plugin", "plugin.c")])
    check(rc == 0, f"cc: {se.decode()[:500]}")
    for mode in ("exact", "sampled"):
        env = {"PEAKTRACE_MODE": mode, "PEAKTRACE_COVMARKS_OUT": os.path.join(c.tmp, f"marks-{mode}")}
        traces, _ = same_as_unprofiled(c, [c.prog("dlplug"), lib, "24"], env)
        check(len(traces) == 1, f"one trace expected: {traces}")
        st = c.collapsed(traces[0])
        got = bytes_in(st, "plugin_fill")
        want = 24 << 20
        check(abs(got - want) <= 0.05 * want, f"{mode}: plugin_fill holds {got} at the peak, want {want}: {st}")
        recs, _ = c.decode(traces[0])
        strings = {r["id"]: r["str"] for r in recs if r["type"] == "string"}
        check(any(strings[r["path_string_id"]] == lib for r in recs if r["type"] == "module"),
              f"{mode}: a MODULE record for {lib}")
        if c.debug:
            check("writer_unload_noted" in marks(env["PEAKTRACE_COVMARKS_OUT"]),
                  f"{mode}: the dlclose shim described the library")


def stop_run(c, env, mode, sig):
    """Runs stopper MODE, sends sig after its "ready" line; returns (status,
    stdout, stderr, traces)."""
    out = tempfile.mkdtemp(prefix="out-", dir=c.tmp)
    full = {k: v for k, v in os.environ.items() if not k.startswith("PEAKTRACE_") and k != "LD_PRELOAD"}
    if env is not None:
        full.update({"LD_PRELOAD": c.lib, "PEAKTRACE_OUT": out}, **env)
    p = subprocess.Popen([c.prog("stopper"), mode], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, env=full, cwd=c.tmp)
    try:
        lines = []
        while not lines or lines[-1] != b"ready\n":
            line = p.stdout.readline()
            check(line, f"{mode}: no 'ready' line: {lines}")
            lines.append(line)
        p.send_signal(sig)
        so, se = p.communicate(timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    return p.returncode, b"".join(lines) + so, se, sorted(glob.glob(os.path.join(out, "*.ptrace")))


@case
def stop_signals(c):
    """A job stopped by SIGTERM, SIGINT or SIGHUP at once (well within the
    writer's 100 ms) dies of the signal as unprofiled, and leaves a whole
    trace with its peak; a program's own handler and an ignored signal
    behave as without us."""
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        base = stop_run(c, None, "dfl", sig)
        for mode in ("sampled", "exact"):
            mfile = os.path.join(c.tmp, f"marks-{sig}-{mode}")
            rc, so, se, traces = stop_run(c, {"PEAKTRACE_MODE": mode, "PEAKTRACE_COVMARKS_OUT": mfile}, "dfl", sig)
            check((rc, so, se) == base[:3], f"{sig.name} {mode}: {(rc, so, se)} vs unprofiled {base[:3]}")
            check(rc == -sig, f"{sig.name}: status {rc}")
            check(len(traces) == 1, f"{sig.name} {mode}: one trace expected: {traces}")
            recs, warn = c.decode(traces[0])
            check(recs[-1]["type"] == "end" and "no end record" not in warn,
                  f"{sig.name} {mode}: the trace is not whole: {recs[-1]} {warn}")
            got = bytes_in(c.collapsed(traces[0]), "site_stop")
            check(abs(got - (40 << 20)) <= 0.05 * (40 << 20), f"{sig.name} {mode}: site_stop {got}")
            if c.debug:
                check(marks(mfile).get("runtime_fatal_signal_flush", 0) == 1,
                      f"{sig.name} {mode}: the flush before the signal's default action")
    base = stop_run(c, None, "handler", signal.SIGTERM)
    check(base[0] == 3 and b"caught" in base[1], f"unprofiled handler run: {base[:3]}")
    got = stop_run(c, {}, "handler", signal.SIGTERM)
    check(got[:3] == base[:3], f"the program's handler: {got[:3]} vs {base[:3]}")
    same_as_unprofiled(c, [c.prog("stopper"), "ignexec"])


@case
def cxx_names(c):
    """C++ frames are named as people read them (jobs::grow_peak(unsigned
    long), std::vector<...>), not as the linker does (_ZN4jobs...)."""
    cxx = shutil.which("c++") or shutil.which("g++")
    check(cxx, "a C++ compiler")
    exe = os.path.join(c.tmp, "grow")
    rc, _, se = c.run([cxx, "-O1", "-g", "-o", exe, os.path.join(HERE, "cxx", "grow.cpp")])
    check(rc == 0, f"c++: {se.decode()[:500]}")
    traces, _ = same_as_unprofiled(c, [exe], {"PEAKTRACE_MODE": "exact"})
    st = c.collapsed(traces[0])
    top = max(st, key=st.get)
    check("jobs::grow_peak(unsigned long)" in top.split(";"), f"the peak's stack names the function: {top}")
    check(any("std::vector<long" in f for f in top.split(";")), f"std::vector's frames: {top}")
    check(not any(f.startswith("_Z") for s in st for f in s.split(";")), f"mangled names left: {list(st)[:3]}")


@case
def threads(c):
    for mode in ("sampled", "exact"):
        traces, _ = same_as_unprofiled(c, [c.prog("threads")], {"PEAKTRACE_MODE": mode})
        check(len(traces) == 1, f"one trace expected: {traces}")
        recs, warn = c.decode(traces[0])
        tids = {r["tid"] for r in recs if r["type"] == "alloc"}
        check(len(tids) >= 8, f"allocations from >= 8 threads expected, saw {len(tids)}")
        check(recs[-1]["type"] == "end", "trace ends with END")
        names = {}
        for r in recs:
            if r["type"] == "thread":
                names.setdefault(r["tid"], []).append(r["name"])
        check(tids <= set(names), f"every allocating thread is named: {tids - set(names)}")
        seen = {n for ns in names.values() for n in ns}
        want = {f"worker-{i}" for i in range(8)}
        check(want <= seen, f"thread names {sorted(want - seen)} missing: {names}")
        if mode == "exact":
            check("renamed-0" in seen, f"a rename is followed: {names}")


@case
def fork200(c):
    traces, _ = same_as_unprofiled(c, [c.prog("forker"), "200"], timeout=240)
    check(len(traces) >= 2, f"parent and child traces expected, got {len(traces)}")
    pids = set()
    for t in traces[:20]:
        hdr = c.header(t)
        check(hdr["type"] == "header", f"{t}: no header")
        pids.add(hdr["pid"])
    check(len(pids) == min(20, len(traces)), "each trace belongs to its own process")


@case
def fork_walk_timeout(c):
    """When the fork handler's wait for stack walks in progress times out
    (failpoint fork_walk_wait), the child must never walk native stacks (a
    lock libunwind or the loader held in another thread stays held in the
    child): its samples are recorded without native frames, the parent's
    keep theirs, and nothing hangs."""
    mfile = os.path.join(c.tmp, "marks-fw")
    traces, _ = same_as_unprofiled(c, [c.prog("forker"), "20"],
                                   {"PEAKTRACE_FAILPOINTS": "fork_walk_wait=return",
                                    "PEAKTRACE_SAMPLE_BYTES": "4096",
                                    "PEAKTRACE_COVMARKS_OUT": mfile}, timeout=120)
    parent = child = 0
    for t in traces:
        hdr, ids = c.alloc_stack_ids(t)
        if hdr.get("ppid") and any(os.path.basename(x) == f"peaktrace-{hdr['ppid']}.ptrace"
                                   for x in traces):
            child += 1
            check(ids and all(i == 0 for i in ids),
                  f"{t}: a child after a timed-out wait walked a stack: {ids[:5]}")
        else:
            parent += 1
            check(any(i != 0 for i in ids), f"{t}: the parent lost its stacks")
    check(parent == 1 and child == 20, f"1 parent and 20 child traces expected: {parent}, {child}")
    if c.debug:
        check(marks(mfile).get("walk_unsafe_in_child", 0) >= 20, f"marks: {marks(mfile)}")


def jemalloc_path():
    return next((p for p in ("/usr/lib/x86_64-linux-gnu/libjemalloc.so.2",
                             "/usr/lib/aarch64-linux-gnu/libjemalloc.so.2",
                             "/usr/lib64/libjemalloc.so.2") if os.path.exists(p)), None)


@case
def live_table_crowded(c):
    """A heap with far more live samples than the live table holds (a
    1024-slot table, a 4 KiB interval, 60000 blocks of 512 B: about 7000
    samples at the first interval) still gets its peak estimated.
    Under glibc's allocator the samples are in the blocks' tags, not in
    the table (shims/malloc.c): every one is kept at its first weight, and
    the estimate is close. Under another allocator (libjemalloc preloaded
    after ours; skipped when it is not installed) they are in the table:
    as it crowds, the writer coarsens the sampling (weights of same-sized
    blocks grow) instead of letting the table fill and drop samples.
    Without coarsening the table holds at most 768 of them: an estimate
    near an eighth of the truth."""
    n, size = 60000, 512
    argv = [c.prog("grower"), str(n), str(size), "1000", "8"]
    env = {"PEAKTRACE_MAX_LIVE_LOG2": "10", "PEAKTRACE_SAMPLE_BYTES": "4096"}
    mfile = os.path.join(c.tmp, "marks-crowded-glibc")
    traces, _ = same_as_unprofiled(c, argv, dict(env, PEAKTRACE_COVMARKS_OUT=mfile), timeout=120)
    check(len(traces) == 1, f"one trace expected: {traces}")
    recs, _ = c.decode(traces[0])
    w = [r["weight"] for r in recs if r["type"] == "alloc" and r["size"] == size]
    check(len(w) > 2000 and min(w) == max(w), f"glibc: samples kept at one weight: "
          f"{len(w)} samples, weights {min(w, default=0)}..{max(w, default=0)}")
    got, want = bytes_in(c.collapsed(traces[0]), "site_grow"), n * size
    check(abs(got - want) <= 0.05 * want, f"glibc: site_grow estimate {got}, want {want} +-5%")
    if c.debug:
        m = marks(mfile)
        check(m.get("sample_in_tag", 0) > 2000 and m.get("live_table_coarser", 0) == 0,
              f"glibc: samples in tags, the table left alone: {m}")
    je = jemalloc_path()
    if je is None:
        print("jemalloc part skipped: libjemalloc.so.2 not installed")
        return
    mfile = os.path.join(c.tmp, "marks-crowded")
    traces, _ = same_as_unprofiled(c, argv, dict(env, LD_PRELOAD=c.lib + ":" + je,
                                                 PEAKTRACE_COVMARKS_OUT=mfile), timeout=120)
    check(len(traces) == 1, f"one trace expected: {traces}")
    recs, _ = c.decode(traces[0])
    w = sorted(r["weight"] for r in recs if r["type"] == "alloc" and r["size"] == size)
    check(w and w[-1] >= 4 * w[0],
          f"sampling never coarsened: weights of {size}-byte samples {w[:1]}..{w[-1:]}")
    st = c.collapsed(traces[0])
    got, want = bytes_in(st, "site_grow"), n * size
    # How far the writer coarsens depends on how far it lags (a loaded
    # machine: 7 doublings seen, 650 samples), and with it the estimate's
    # spread: each sample of weight w adds w*(w - size) to the variance.
    # 4 standard errors; without coarsening the estimate is near an
    # eighth of the truth, far outside.
    sigma = math.sqrt(sum(x * (x - size) for x in w))
    tol = max(0.05 * want, 4 * sigma)
    check(tol <= 0.5 * want, f"test design: {len(w)} samples, sigma {sigma:.0f} for {want}")
    check(abs(got - want) <= tol, f"site_grow: estimate {got}, want {want} +-{tol:.0f} (4 sigma)")
    if c.debug:
        # the writer coarsened; freeing the blocks emptied slots, not tombstones
        m = marks(mfile)
        check(m.get("live_table_coarser", 0) >= 1 and m.get("live_tombstone_reclaimed", 0) >= 1,
              f"marks: {m}")


@case
def aligned(c):
    traces, _ = same_as_unprofiled(c, [c.prog("aligned")], {"PEAKTRACE_MODE": "exact"})
    st = c.collapsed(traces[0])
    check(bytes_in(st, "use_mmap") > 0 or bytes_in(st, "use_posix_memalign") > 0,
          f"aligned/mmap sites at the peak: {sorted(st)[:5]}")


def dies(c, mode, want_sig=None):
    argv = [c.prog("dies"), mode]
    base = c.run(argv)
    rc, so, se, traces, _ = c.profile(argv, {"PEAKTRACE_MODE": "exact"})
    check(rc == base[0], f"{mode}: exit status {rc} != unprofiled {base[0]}")
    if want_sig:
        check(rc == -want_sig, f"{mode}: expected death by signal {want_sig}, got {rc}")
    check(so == base[1], f"{mode}: stdout differs")
    check(len(traces) == 1, f"{mode}: one trace expected: {traces}")
    recs, _ = c.decode(traces[0], expect_rc=(0,))
    st = c.collapsed(traces[0])
    check(bytes_in(st, "hold_me") >= 32 << 20, f"{mode}: hold_me's 32 MiB not in the trace: {st}")


@case
def dies_exit(c):
    dies(c, "exit")


@case
def dies_underscore_exit(c):
    dies(c, "_exit")


@case
def dies_abort(c):
    dies(c, "abort", signal.SIGABRT)


@case
def dies_segv(c):
    dies(c, "segv", signal.SIGSEGV)


@case
def dies_sigkill(c):
    dies(c, "kill", signal.SIGKILL)


@case
def env_errors(c):
    argv = [c.prog("echoer"), "0"]
    rc, so, se, traces, _ = c.profile(argv, {"PEAKTRACE_MODE": "bogus"})
    check(rc == 1, f"bad PEAKTRACE_MODE: fail fast with status 1, got {rc}")
    check(b"peaktrace: bad PEAKTRACE_MODE='bogus'" in se, f"message: {se!r}")
    check(so == b"", "the program must not have run")
    rc, so, se, traces, _ = c.profile(argv, {"PEAKTRACE_MODE": "bogus",
                                             "PEAKTRACE_ON_ENV_ERROR": "disable"})
    check(rc == 0 and so == b"arg 1: 0\n", f"disable: program runs: {rc} {so!r}")
    check(b"profiling disabled" in se, f"disable message: {se!r}")
    for fp in ("envcheck_glibc", "envcheck_unwind", "writer_open"):
        rc, so, se, traces, _ = c.profile(argv, {"PEAKTRACE_FAILPOINTS": fp + "=return"})
        check(rc == 1 and b"peaktrace: " in se and so == b"", f"{fp}: fail fast: {rc} {se!r}")
    afile = os.path.join(c.tmp, "a-file")
    open(afile, "w").close()
    rc, so, se, traces, _ = c.profile(argv, {"PEAKTRACE_OUT": afile})
    check(rc == 1 and b"not a directory" in se and so == b"", f"PEAKTRACE_OUT a file: {rc} {se!r}")
    # a directory where no file can be made, even by root (access() says
    # yes there): fail fast too, not a trip once the program runs
    rc, so, se, traces, _ = c.profile(argv, {"PEAKTRACE_OUT": "/proc"})
    check(rc == 1 and b"peaktrace: cannot" in se and so == b"", f"PEAKTRACE_OUT=/proc: {rc} {se!r}")
    # fail fast stops the job at its start, not a program the profiled job
    # starts later (a helper on another interpreter, a tool): that one runs
    # unprofiled, and the job goes on as it would have
    sh = ["/bin/sh", "-c", f"PEAKTRACE_MODE=bogus {argv[0]} 7; echo status $?"]
    rc, so, se, traces, _ = c.profile(sh, {})
    check(rc == 0 and so == b"arg 1: 7\nstatus 7\n", f"the child of a profiled job: {rc} {so!r} {se!r}")
    check(b"bad PEAKTRACE_MODE='bogus'" in se and b"started by a profiled process" in se,
          f"its message: {se!r}")
    check(se.count(b"stopping") == 0, f"nothing stopped: {se!r}")


@case
def bad_failpoint_spec(c):
    argv = [c.prog("echoer"), "3"]
    # an environment error like any other: one line, the job stops at once
    # (a chaos run with a typo would otherwise test nothing) ...
    rc, so, se, traces, _ = c.profile(argv, {"PEAKTRACE_FAILPOINTS": "ring_push=rturn"})
    check(rc == 1 and so == b"", f"a bad spec stops the job: {rc} {so!r}")
    check(se.count(b"\n") == 1 and
          se.startswith(b"peaktrace: bad PEAKTRACE_FAILPOINTS='ring_push=rturn': column 11: "),
          f"one clear line: {se!r}")
    # ... or, with PEAKTRACE_ON_ENV_ERROR=disable, it runs on unprofiled
    rc, so, se, traces, _ = c.profile(argv, {"PEAKTRACE_FAILPOINTS": "ring_push=rturn",
                                             "PEAKTRACE_ON_ENV_ERROR": "disable"})
    check(rc == 3 and so == b"arg 1: 3\n", f"disable: the program runs on: {rc} {so!r}")
    check(se.count(b"peaktrace:") == 1 and b"profiling disabled" in se, f"disable: one line: {se!r}")
    check(not traces, f"disable: no trace expected: {traces}")


@case
def trip_passthrough(c):
    """A writer failure trips the kill-switch: the program is unaffected,
    the reason is on stderr once, and later calls pass straight through."""
    mfile = os.path.join(c.tmp, "marks")
    argv = [c.prog("churn"), "1500"]
    base = c.run(argv)
    # the file header is the first write: it fails at the first sample's
    # flush, and the program goes on allocating for more than a second
    rc, so, se, traces, _ = c.profile(argv, {"PEAKTRACE_FAILPOINTS": "writer_write=return",
                                             "PEAKTRACE_COVMARKS_OUT": mfile})
    check(rc == base[0] and so == base[1], "output and status unchanged")
    check(se.count(b"peaktrace: profiling disabled:") == 1, f"one trip line: {se!r}")
    if c.debug:
        m = marks(mfile)
        check(m.get("shim_passthrough_after_trip", 0) > 0, f"pass-through mark: {m}")


@case
def covmarks_paths(c):
    if not c.debug:
        print("skipped: coverage marks exist in debug builds only")
        return
    mfile = os.path.join(c.tmp, "marks")
    same_as_unprofiled(c, [c.prog("threads")], {"PEAKTRACE_COVMARKS_OUT": mfile})
    m = marks(mfile)
    for name in ("shim_bootstrap_resolve", "runtime_started", "sampled", "free_of_sampled",
                 "shim_reentry_passthrough"):
        check(m.get(name, 0) > 0, f"mark {name} not hit: {sorted(m)}")
    mfile2 = os.path.join(c.tmp, "marks2")
    same_as_unprofiled(c, [c.prog("forker"), "5"], {"PEAKTRACE_COVMARKS_OUT": mfile2})
    check(marks(mfile2).get("fork_child_reset", 0) >= 5, "fork child reset mark")


def sigalloc_stats(path):
    got = {}
    for line in open(path):
        k, _, v = line.partition(" ")
        got[k] = int(v)
    return got


def report_json(c, trace):
    rc, so, se = c.run([c.cli, "report", trace, "--format", "json"])
    check(rc == 0, f"report --format json exit {rc}: {se.decode()[:500]}")
    return json.loads(so)


@case
def signal_malloc(c):
    """malloc, calloc, realloc and free from a signal handler that
    interrupted the program's allocations or the profiler (its shim, its
    sampling path, libunwind in the middle of a stack walk): pass-through,
    never a deadlock or a crash, the program's output and status unchanged,
    and the trace whole. progs/sigalloc.c allocates in its handler only
    where that is safe without the profiler too (not inside glibc's
    allocator), and counts where its handler's allocations ran: outside the
    allocator, with the interrupted pc in libpeaktrace.so, or in
    libunwind (the profiler is then certainly inside its sampling path).
    Exact mode walks every stack with libunwind (failpoint unwind_fast), so
    that the handler also interrupts libunwind; sampled mode walks with
    the cached unwinder of libpeaktrace.so."""
    rounds = 3
    for mode, env in (("exact", {"PEAKTRACE_MODE": "exact", "PEAKTRACE_FAILPOINTS": "unwind_fast=return"}),
                      ("sampled", {"PEAKTRACE_SAMPLE_BYTES": "4096"})):
        for rnd in range(rounds):
            what = f"{mode} #{rnd}"
            stats = os.path.join(c.tmp, f"stats-{mode}-{rnd}")
            mfile = os.path.join(c.tmp, f"marks-{mode}-{rnd}")
            argv = [c.prog("sigalloc"), stats, "100"]
            e = dict(env, PEAKTRACE_COVMARKS_OUT=mfile)
            try:
                # a deadlock fails the case here instead of hanging it
                traces, _ = same_as_unprofiled(c, argv, e, timeout=60)
            except subprocess.TimeoutExpired as ex:
                raise Failure(f"{what}: {' '.join(ex.cmd)} did not finish in {ex.timeout} s "
                              f"(deadlock or livelock under the signal storm?)")
            check(len(traces) == 1, f"{what}: one trace expected: {traces}")
            st = sigalloc_stats(stats)
            # the timer landed inside the profiler and the handler
            # allocated there (hundreds of times a run; none means the
            # program no longer exercises the case)
            check(st["profiler"] + st["unwinder"] > 0,
                  f"{what}: no handler ran its allocations inside the profiler: {st}")
            if mode == "exact":
                check(st["unwinder"] > 0, f"{what}: no signal landed in libunwind: {st}")
            # decoded whole (the first and last records parsed only: an
            # exact-mode trace has 600k records)
            rc, so, se = c.run([c.cli, "decode", traces[0]])
            check(rc == 0 and se == b"", f"{what}: decode exit {rc}, warnings {se[:500]!r}")
            lines = so.splitlines()
            first, last = json.loads(lines[0]), json.loads(lines[-1])
            check(first["type"] == "header" and last["type"] == "end",
                  f"{what}: header..end expected: {first['type']} .. {last['type']}")
            if c.debug:
                m = marks(mfile)
                n = m.get("shim_reentry_passthrough", 0)
                check(n > 0, f"{what}: shim_reentry_passthrough not hit: {sorted(m)}")
                if mode == "exact":
                    # every allocation call (malloc, calloc, malloc, realloc)
                    # of a handler that interrupted libunwind reached the
                    # slow path with the thread's busy flag up
                    check(n >= 4 * st["unwinder"],
                          f"{what}: {n} pass-through marks < 4 x {st['unwinder']} "
                          f"handler runs inside libunwind")
            if mode != "exact":
                continue
            d = report_json(c, traces[0])
            fr = d["frames"]
            handler, across, leaked = 0, 0, []
            for s in d["stacks"]:
                names = [fr[i]["name"] for i in s["frames"]]
                mine = names and names[0] in ("handler_allocs", "main")
                if "handler_allocs" in names and "sigalloc_handler" in names:
                    handler += s["alloc_count"]
                    # unwound through the signal frame into what it interrupted
                    if "main" in names:
                        across += s["alloc_count"]
                if mine and s["end_bytes"]:
                    leaked.append((names[:4], s["end_bytes"]))
            check(handler > 0, f"{what}: no allocation with sigalloc_handler/handler_allocs "
                               f"in its stack (exact mode records every one made outside "
                               f"the profiler: {st['free']} handler runs outside the allocator)")
            check(across > 0, f"{what}: no handler stack unwound across the signal frame to main")
            # the program frees everything: what it allocated (main loop and
            # handler, sampled or passed through) is not live at the END,
            # unless events were dropped
            if d["run"]["drops"] == 0:
                check(not leaked, f"{what}: blocks the program freed are live at the end "
                                  f"(lost FREE records): {leaked[:5]}")


@case
def signal_malloc_totals(c):
    """The exact byte total stays exact when a signal handler allocates and
    frees while its thread is inside the profiler. progs/sigalloc.c frees
    everything, so the heap at END is the same with and without its timer,
    and the peak is at most a handler's few blocks above the timerless one.

    The bug this guards against: the per-thread byte delta (pt_tls.delta)
    was updated with a separate load and store (pt_fast_alloc/pt_fast_free's
    `delta +=`, flush_delta's read-then-zero) that a handler's nested
    allocation could land between; the handler's own update was then
    overwritten, or the outer one counted twice, and the total drifted
    upwards for good (exact mode, 100 us timer: 4 to 20 KiB of freed blocks
    still counted at END; 20 us: ~150 KiB and the peak 24% too high). Now
    one instruction each (pt_delta_add, an exchange in flush_delta)."""
    def run(interval):
        argv = [c.prog("sigalloc"), os.path.join(c.tmp, "stats"), str(interval)]
        try:
            traces, _ = same_as_unprofiled(c, argv, {"PEAKTRACE_MODE": "exact"}, timeout=60)
        except subprocess.TimeoutExpired as ex:
            raise Failure(f"{' '.join(ex.cmd)} did not finish in {ex.timeout} s")
        check(len(traces) == 1, f"one trace expected: {traces}")
        rc, so, se = c.run([c.cli, "decode", traces[0]])
        check(rc == 0, f"decode exit {rc}: {se[:300]!r}")
        lines = so.splitlines()
        ticks = [json.loads(l) for l in lines if b'"type":"tick"' in l]
        end = json.loads(lines[-1])
        check(ticks and end["type"] == "end", "ticks and an END record expected")
        return ticks[-1]["heap_bytes"], end["peak_bytes"], sigalloc_stats(argv[1])
    # a 10 s timer never fires: the same program without a signal
    base_heap, base_peak, st = run(10_000_000)
    check(st["signals"] == 0, f"no signal expected: {st}")
    for rnd in range(3):
        heap, peak, st = run(100)
        # a block or two of slack: libunwind's own caches (allocations of
        # the profiler's, counted too) may differ after unwinding through
        # signal frames; the drift is kilobytes a run
        check(abs(heap - base_heap) <= 1024,
              f"#{rnd}: heap at END {heap} bytes, {heap - base_heap:+d} from the run without "
              f"signals ({base_heap}); the program freed all it allocated ({st})")
        check(peak <= base_peak + 16384,
              f"#{rnd}: peak {peak} bytes, {peak - base_peak:+d} from the run without signals "
              f"({base_peak}): more than a handler's blocks ({st})")


@case
def follow_exec(c):
    """exec'd programs write their own trace; PEAKTRACE_FOLLOW_EXEC=0 stops that."""
    sh = "/bin/sh"
    argv = [sh, "-c", f"{c.prog('known')} >/dev/null; exec {c.prog('echoer')} 4"]
    base = c.run(argv)
    rc, so, se, traces, _ = c.profile(argv, {"PEAKTRACE_MODE": "exact"})
    check(rc == base[0] == 4 and so == base[1], f"status/output: {rc} {so!r}")
    exes = set()
    for t in traces:
        recs, _ = c.decode(t)
        exes.add(os.path.basename(recs[0]["exe"]))
    check({"e2e_known", "e2e_echoer"} <= exes, f"traces of the exec'd programs expected: {exes}")
    rc, so, se, traces, _ = c.profile(argv, {"PEAKTRACE_MODE": "exact", "PEAKTRACE_FOLLOW_EXEC": "0"})
    check(rc == 4 and so == base[1], "status/output with FOLLOW_EXEC=0")
    exes = {os.path.basename(c.decode(t)[0][0]["exe"]) for t in traces}
    check("e2e_known" not in exes and "e2e_echoer" not in exes, f"children not profiled: {exes}")


@case
def main_thread_exit(c):
    """main ends with pthread_exit: the process ends when the program's
    last thread does (the writer thread does not keep it alive), with
    exit(0)'s effects (stdio flushed, atexit handlers run), and a whole
    trace."""
    for mode in ("alone", "worker"):
        mfile = os.path.join(c.tmp, f"marks-pexit-{mode}")
        traces, _ = same_as_unprofiled(c, [c.prog("pexit"), mode], {"PEAKTRACE_MODE": "exact",
                                                                    "PEAKTRACE_COVMARKS_OUT": mfile}, timeout=60)
        if c.debug:
            check(marks(mfile).get("writer_last_thread", 0) == 1, f"{mode}: the writer saw it was alone")
        check(len(traces) == 1, f"{mode}: one trace: {traces}")
        recs, warn = c.decode(traces[0])
        check(recs[-1]["type"] == "end" and not warn, f"{mode}: not whole: {recs[-1]} {warn}")
        if mode == "worker":
            got = bytes_in(c.collapsed(traces[0]), "site_worker")
            check(got == 20 << 20, f"site_worker: {got}")


@case
def quick_exit_errno(c):
    """main finds errno as without us (0), and quick_exit (which calls
    glibc's internal _exit) leaves a whole trace."""
    mfile = os.path.join(c.tmp, "marks-quick")
    traces, _ = same_as_unprofiled(c, [c.prog("quick")], {"PEAKTRACE_MODE": "exact",
                                                          "PEAKTRACE_COVMARKS_OUT": mfile})
    if c.debug:
        check(marks(mfile).get("shim_quick_exit_flush", 0) == 1, "quick_exit went through the shim")
    check(len(traces) == 1, f"one trace: {traces}")
    recs, warn = c.decode(traces[0])
    check(recs[-1]["type"] == "end" and not warn, f"not whole: {recs[-1]} {warn}")
    got = bytes_in(c.collapsed(traces[0]), "site_quick")
    check(got == 8 << 20, f"site_quick: {got}")


@case
def relative_out_dir(c):
    """A relative PEAKTRACE_OUT is the start-up directory's, whatever the
    program chdir()s to later."""
    elsewhere = os.path.join(c.tmp, "elsewhere")
    os.makedirs(elsewhere)
    argv = [c.prog("chdirer"), elsewhere]
    base = c.run(argv)
    rc, so, se = c.run(argv, {"LD_PRELOAD": c.lib, "PEAKTRACE_OUT": "rel-out"})
    check((rc, so, se) == base, f"{(rc, so, se)} vs unprofiled {base}")
    traces = glob.glob(os.path.join(c.tmp, "rel-out", "*.ptrace"))
    check(len(traces) == 1, f"the trace in the start-up directory's rel-out: {traces}")
    check(not os.path.exists(os.path.join(elsewhere, "rel-out")), "nothing under the new directory")
    got = bytes_in(c.collapsed(traces[0]), "site_after_chdir")
    check(abs(got - (12 << 20)) <= 0.05 * (12 << 20), f"site_after_chdir: {got}")


@case
def tagged_blocks(c):
    """Sampled blocks carry a tag before the pointer the program gets (so
    a free knows them without a lookup, shims/malloc.c). With every block
    sampled, every function of the malloc family keeps what a program
    relies on (progs/tagged.c: contents, zeroes, alignment, usable sizes,
    realloc both ways and to 0, glibc's errors), in a fork child too, and
    after a kill-switch trip part way through; and every sampled block's
    free is recorded (the sample is in the tag: a child records no free of
    its parent's samples)."""
    argv = [c.prog("tagged")]
    for what, env in (("every block sampled", {"PEAKTRACE_SAMPLE_BYTES": "1"}),
                      # weights too large for the tag (failpoint): the
                      # samples go to the live table, and frees find them
                      ("every block sampled, in the table", {"PEAKTRACE_SAMPLE_BYTES": "1",
                                                             "PEAKTRACE_FAILPOINTS": "tag_weight=return"}),
                      ("trip after 30 samples", {"PEAKTRACE_SAMPLE_BYTES": "1",
                                                 "PEAKTRACE_FAILPOINTS": "unwind=30*off->segv"}),
                      ("default", {}), ("exact", {"PEAKTRACE_MODE": "exact"})):
        mfile = os.path.join(c.tmp, "marks-" + what.replace(" ", "-"))
        env = dict(env, PEAKTRACE_COVMARKS_OUT=mfile)
        base = c.run(argv)
        rc, so, se, traces, _ = c.profile(argv, env)
        check((rc, so) == base[:2], f"{what}: {(rc, so, se)} vs unprofiled {base}")
        check(b"BROKEN" not in so and rc == 0, f"{what}: {so!r}")
        if "trip" in what:
            check(se.count(b"peaktrace: profiling disabled:") == 1, f"{what}: one trip line: {se!r}")
        else:
            check(se == base[2], f"{what}: stderr {se!r}")
        m = marks(mfile) if c.debug else {}
        if what.startswith("every block sampled"):
            check(len(traces) == 2, f"{what}: parent and child traces: {traces}")
            for t in traces:
                recs, _ = c.decode(t)
                allocs = sum(1 for r in recs if r["type"] == "alloc")
                frees = sum(1 for r in recs if r["type"] == "free")
                # the parent keeps stdout's buffer (one block)
                check(allocs >= 40 and 0 <= allocs - frees <= 1,
                      f"{what}: {t}: {allocs} sampled blocks, {frees} frees recorded")
            if c.debug and what == "every block sampled":
                # tag_other_generation: the child freed and reshaped its
                # parent's samples, which its own trace never had
                for name in ("shim_tag_alloc", "shim_tag_free", "shim_tag_realloc", "sample_in_tag",
                             "tag_other_generation"):
                    check(m.get(name, 0) > 0, f"{what}: mark {name}: {m}")
        if "trip" in what and c.debug:
            check(m.get("shim_tag_alloc", 0) > 0 and m.get("shim_passthrough_after_trip", 0) > 0,
                  f"{what}: marks {m}")
        if what == "exact" and c.debug:
            check(m.get("shim_tag_alloc", 0) == 0, f"{what}: exact mode tags nothing: {m}")
        if what == "default" and c.debug:
            # a sampled block that realloc does not sample again keeps its
            # tag (8 tries, each sampled again with p ~ 1e-4)
            check(m.get("shim_tag_kept", 0) > 0, f"{what}: mark shim_tag_kept: {m}")


@case
def realloc_fails(c):
    """A realloc that fails leaves the block allocated: it stays in the
    peak (at its own site when the size was impossible, at the realloc
    when the system refused it)."""
    for arg in ("huge", "limit"):
        for mode in ("exact", "sampled"):
            mfile = os.path.join(c.tmp, f"marks-realloc-{arg}-{mode}")
            traces, _ = same_as_unprofiled(c, [c.prog("reallocfail"), arg], {"PEAKTRACE_MODE": mode,
                                                                             "PEAKTRACE_COVMARKS_OUT": mfile})
            if c.debug:
                mark = "shim_realloc_impossible" if arg == "huge" else "shim_realloc_failed"
                check(marks(mfile).get(mark, 0) == 1, f"{arg} {mode}: {mark}")
            st = c.collapsed(traces[0])
            kept = bytes_in(st, "site_kept") if arg == "huge" else sum(
                n for s, n in st.items() if "site_kept" in s or s.endswith(";main"))
            check(abs(kept - (40 << 20)) <= 0.05 * (40 << 20), f"{arg} {mode}: the kept block: {kept}: {st}")
            other = bytes_in(st, "site_other")
            check(abs(other - (10 << 20)) <= 0.05 * (10 << 20), f"{arg} {mode}: site_other {other}")


@case
def address_space_limit(c):
    """Under ulimit -v the profiler's reservations shrink (a sixteenth of
    the limit for its tables, a small writer stack): a program that fits
    unprofiled fits profiled (it used to lose ~120 MiB of address space)."""
    argv = ["/bin/sh", "-c", f"ulimit -v 240000 && exec {c.prog('aslimit')} 150"]
    base = c.run(argv)
    check(base[0] == 0, f"unprofiled under the limit: {base}")
    for mode in ("sampled", "exact"):
        mfile = os.path.join(c.tmp, f"marks-aslimit-{mode}")
        rc, so, se, traces, _ = c.profile(argv, {"PEAKTRACE_MODE": mode, "PEAKTRACE_COVMARKS_OUT": mfile})
        check((rc, so) == base[:2], f"{mode}: {(rc, so, se)} vs unprofiled {base}")
        if c.debug:
            check(marks(mfile).get("runtime_arenas_scaled", 0) >= 1, f"{mode}: arenas scaled to the limit")


@case
def user_namespace(c):
    """unshare(CLONE_NEWUSER) works as without us (the kernel wants a
    single-threaded process: the writer steps aside for the call), and the
    trace goes on after it."""
    for mode in ("sampled", "exact"):
        mfile = os.path.join(c.tmp, f"marks-userns-{mode}")
        traces, _ = same_as_unprofiled(c, [c.prog("userns")], {"PEAKTRACE_MODE": mode,
                                                               "PEAKTRACE_COVMARKS_OUT": mfile})
        if c.debug and b"unshare: ok" in c.run([c.prog("userns")])[1]:
            check(marks(mfile).get("writer_paused", 0) == 1, f"{mode}: the writer stepped aside")
        check(len(traces) == 1, f"{mode}: one trace: {traces}")
        recs, warn = c.decode(traces[0])
        check(recs[-1]["type"] == "end" and not warn, f"{mode}: not whole: {recs[-1]} {warn}")
        got = bytes_in(c.collapsed(traces[0]), "site_after_unshare")
        check(abs(got - (16 << 20)) <= 0.05 * (16 << 20), f"{mode}: site_after_unshare {got}")


@case
def mapping_cuts(c):
    """Mappings unmapped in part (head, tail, hole, trimmed for alignment),
    mapped over with MAP_FIXED, unmapped two at a time, or remapped: the
    peak is what each case really held (64 MiB; 80 for the over-mapping
    trim), and nothing mapped is left counted at the end. A reservation
    (PROT_NONE, 1 GiB) counts only for the part made accessible, with
    mprotect or mmap(MAP_FIXED), and only while it is."""
    mib = 1 << 20
    for case in ("tailhead", "fixed", "hole", "span", "trim", "remap", "dontunmap",
                 "reserve", "commit"):
        mfile = os.path.join(c.tmp, f"marks-{case}")
        traces, _ = same_as_unprofiled(c, [c.prog("mapper"), case], {"PEAKTRACE_MODE": "exact",
                                                                    "PEAKTRACE_COVMARKS_OUT": mfile})
        recs, _ = c.decode(traces[0])
        end = recs[-1]
        check(end["type"] == "end", f"{case}: not whole")
        peak, want = end["peak_bytes"], (80 if case == "trim" else 64) * mib
        check(want <= peak <= want + mib, f"{case}: peak {peak / mib:.1f} MiB, want {want // mib}")
        ticks = [r for r in recs if r["type"] == "tick"]
        check(ticks and ticks[-1]["mapped_bytes"] == 0, f"{case}: mapped bytes left at the end: {ticks[-1:]}")
        if c.debug:
            want_marks = {"tailhead": ["maps_cut_tail"], "hole": ["maps_cut_hole"],
                          "fixed": ["mmap_replaced_ours"], "trim": ["maps_cut_tail"],
                          "reserve": ["mmap_reserved", "mprotect_commit", "mprotect_decommit"],
                          "commit": ["mmap_reserved", "maps_cut_hole"]}.get(case, [])
            m = marks(mfile)
            check(all(m.get(k, 0) >= 1 for k in want_marks), f"{case}: marks {want_marks} in {m}")


@case
def exec_flush(c):
    """An image that execs at once (well within the writer's 100 ms) still
    leaves its trace: the exec shims have the writer write everything
    first. A failed exec (execvp of a missing program) goes on profiling."""
    for mode in ("sampled", "exact"):
        traces, _ = same_as_unprofiled(c, [c.prog("execer")], {"PEAKTRACE_MODE": mode})
        mine = [t for t in traces if os.path.basename(c.header(t)["exe"]) == "e2e_execer"]
        check(len(mine) == 1, f"{mode}: one trace of the image that exec'd: {traces}")
        st = c.collapsed(mine[0])
        for site, want in (("site_before_exec", 30 << 20), ("site_after_failed_exec", 10 << 20)):
            got = bytes_in(st, site)
            check(abs(got - want) <= 0.05 * want, f"{mode}: {site}: {got}, want {want}")


@case
def closed_descriptor(c):
    """A program that closes every descriptor below 1024 and then opens files
    until the limit: the profiler must never write into, or close, a file of
    the program's. With a low descriptor limit the trace's number is reused
    by the program (the writer must notice and stop); with a higher one the
    trace's descriptor sits above the program's range. libunwind's own pipe
    (it validates addresses by writing them into it) sits there too, and is
    only read, written or closed while it is still that pipe (shims/pipe.c):
    before, libunwind wrote into and closed the program's files that got its
    numbers."""
    import resource
    out = os.path.join(c.tmp, "closer.out")
    argv = [c.prog("closer"), out]
    want = b"closer: 16 files, 200 bytes each\n"
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)

    def limit(n):
        def set_limit():
            if n is not None:
                resource.setrlimit(resource.RLIMIT_NOFILE, (min(n, hard), hard))
        return set_limit

    for lim in (None, 256, 4096):
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("PEAKTRACE_") and k != "LD_PRELOAD"}
        base = subprocess.run(argv, capture_output=True, env=env, timeout=120,
                              preexec_fn=limit(lim))
        check(base.returncode == 0 and base.stdout == want, f"unprofiled run: {base}")
        odir = tempfile.mkdtemp(prefix="out-", dir=c.tmp)
        mfile = os.path.join(c.tmp, f"marks-{lim}")
        env.update(LD_PRELOAD=c.lib, PEAKTRACE_OUT=odir, PEAKTRACE_COVMARKS_OUT=mfile)
        # the race it guards against is a matter of timing: a few runs each
        for _ in range(3):
            p = subprocess.run(argv, capture_output=True, env=env, timeout=120,
                               preexec_fn=limit(lim))
            check(p.returncode == 0,
                  f"limit {lim}: the program failed (status {p.returncode}): "
                  f"a descriptor of its own was closed or written to")
            check(p.stdout == want, f"limit {lim}: the program's files were changed: {p.stdout!r}")
            if lim == 256:
                check(b"profiling disabled" in p.stderr, f"the trip is reported: {p.stderr!r}")
        if c.debug:
            m = marks(mfile)
            check(m.get("pipe_in_runtime", 0) > 0,
                  f"libunwind's validation pipe was made the runtime's way: {m}")
            if lim == 4096 and min(lim, hard) == 4096:
                check(m.get("fd_moved_high", 0) >= 3, f"the trace was moved high: {m}")
        for t in glob.glob(os.path.join(odir, "peaktrace-*.ptrace")):
            c.decode(t)


@case
def trace_budget(c):
    """PEAKTRACE_MAX_TRACE_BYTES bounds the trace: sampling coarsens from
    half the budget on, events stop at it, and the trace still ends well."""
    budget = 96 * 1024
    mfile = os.path.join(c.tmp, "marks")
    argv = [c.prog("churn"), "1500"]
    traces, _ = same_as_unprofiled(c, argv, {"PEAKTRACE_SAMPLE_BYTES": "2048",
                                             "PEAKTRACE_MAX_TRACE_BYTES": str(budget),
                                             "PEAKTRACE_COVMARKS_OUT": mfile})
    check(len(traces) == 1, f"one trace: {traces}")
    size = os.path.getsize(traces[0])
    check(size <= budget, f"trace of {size} bytes exceeds the {budget}-byte budget")
    recs, warn = c.decode(traces[0])
    check(recs[-1]["type"] == "end", "the trace still ends with END")
    drops = [r["total"] for r in recs if r["type"] == "drops"]
    check(drops and drops[-1] > 0, "events past the budget are counted as drops")
    if c.debug:
        m = marks(mfile)
        check(m.get("trace_budget_coarser", 0) > 0 and m.get("trace_budget_reached", 0) > 0,
              f"budget marks: {m}")


@case
def run_command(c):
    """peaktrace run: exit status passed through (128+N for a signal),
    SIGTERM forwarded to the child, one summary line, a report folder."""
    out = os.path.join(c.tmp, "runout")
    rc, so, se = c.run([c.cli, "run", "--out", out, "--", c.prog("echoer"), "6", "x"])
    check(rc == 6 and so == b"arg 1: 6\narg 2: x\n", f"status/output: {rc} {so!r}")
    lines = [l for l in se.decode().splitlines() if l.startswith("peaktrace: peak ")]
    check(len(lines) == 1 and "index.html" in lines[0], f"one summary line naming the report: {se!r}")
    report = lines[0].rsplit("report: ", 1)[1]
    check(os.path.isfile(report), f"report {report} exists")
    # a second run into the same directory, within the same second: its
    # own trace only, not the first run's
    rc, so, se = c.run([c.cli, "run", "--out", out, "--", c.prog("echoer"), "6", "x"])
    ours = [l for l in se.decode().splitlines() if l.startswith("peaktrace: ")]
    check(rc == 6 and len(ours) == 1 and ours[0] != lines[0], f"second run reports only itself: {se!r}")
    rc, _, se = c.run([c.cli, "run", "--out", out, "--", c.prog("dies"), "segv"])
    check(rc == 128 + signal.SIGSEGV, f"a child killed by SIGSEGV gives {128 + signal.SIGSEGV}, got {rc}")
    # SIGTERM to peaktrace reaches the child, which dies of it
    env = {k: v for k, v in os.environ.items() if not k.startswith("PEAKTRACE_")}
    p = subprocess.Popen([c.cli, "run", "--out", out, "--", c.prog("churn"), "20000"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    import time
    time.sleep(1.0)
    p.send_signal(signal.SIGTERM)
    try:
        p.wait(timeout=60)
    except subprocess.TimeoutExpired:
        p.kill()
        raise Failure("peaktrace run did not end after SIGTERM")
    check(p.returncode == 128 + signal.SIGTERM, f"SIGTERM forwarded: status {p.returncode}")
    afile = os.path.join(c.tmp, "not-a-dir")
    open(afile, "w").close()
    for bad in (afile, os.path.join(afile, "sub")):
        rc, so, se = c.run([c.cli, "run", "--out", bad, "--", c.prog("echoer"), "1"])
        check(rc == 2 and so == b"" and b"not a directory" in se.lower(),
              f"--out {bad}: status 2 before the command runs: {rc} {so!r} {se!r}")
    rc, _, se = c.run([c.cli, "run", "--mode", "fast", "--", "true"])
    check(rc == 1 and b"peaktrace: bad --mode 'fast'" in se, f"usage error: {rc} {se!r}")
    # "-o -- cmd": the separator is not the directory (it made one named "--")
    rc, _, se = c.run([c.cli, "run", "-o", "--", "true"], cwd=c.tmp)
    check(rc == 1 and b"option '-o' needs a value" in se, f"-o --: {rc} {se!r}")
    check(not os.path.exists(os.path.join(c.tmp, "--")), "-o --: a directory named '--' made")


@case
def chaos(c):
    """Every runtime failpoint armed in turn: the program's output and exit
    status are unchanged, and the trace is valid or clearly marked."""
    rc, so, se = c.run([c.cli, "failpoints", "--names"])
    check(rc == 0, "failpoints --names")
    names = so.decode().split()
    rc, so, _ = c.run([c.cli, "failpoints"])
    runtime = [n for n in names if re.search(r"^\s*%s\s+runtime\b" % re.escape(n), so.decode(), re.M)]
    check(runtime, "runtime failpoints listed")
    argv = [c.prog("known")]
    base = c.run(argv)
    for name in runtime:
        if name.startswith("envcheck_") or name == "writer_open":
            continue  # start-up failures stop the program by design (env_errors)
        for action in ("return", "3*return", "segv" if name in ("unwind", "guard_fault") else "return"):
            rc, so, se, traces, _ = c.profile(argv, {"PEAKTRACE_FAILPOINTS": f"{name}={action}"})
            check(rc == base[0] and so == base[1], f"{name}={action}: status {rc} / output changed; stderr {se[-300:]!r}")
            for t in traces:
                drc, _, dse = c.run([c.cli, "decode", t])
                check(drc == 0, f"{name}={action}: trace does not decode: {dse[-300:]!r}")


@case
def ring_stalled_exact(c):
    """Exact mode with a writer that never drains (the ring always full):
    the program's output and status are unchanged, every lost event is
    counted, and the wait for the writer happens once, not at every free
    (64 yields a free made an 8-thread program 160 times slower)."""
    argv = [c.prog("threads")]
    base = c.run(argv)
    mfile = os.path.join(c.tmp, "marks-stalled")
    rc, so, se, traces, _ = c.profile(argv, {"PEAKTRACE_MODE": "exact",
                                             "PEAKTRACE_FAILPOINTS": "ring_push=return",
                                             "PEAKTRACE_COVMARKS_OUT": mfile})
    check((rc, so) == base[:2], f"status {rc} / output changed; stderr {se[-300:]!r}")
    check(traces, "no trace")
    for t in traces:
        recs, _ = c.decode(t)
        drops = [r["total"] for r in recs if r["type"] == "drops"]
        check(drops and drops[-1] > 0, f"{t}: the lost events are not counted")
    if c.debug:
        m = marks(mfile)
        check(m.get("ring_full_drop", 0) > 1000, f"too few drops for an exact run: {m}")
        check(m.get("ring_congested", 0) == 1,
              f"the writer was waited for {m.get('ring_congested', 0)} times, once expected")


@case
def tables_unmapped(c):
    """The runtime's tables cannot all be mapped (the fourth mapping fails,
    as under a tight ulimit -v): profiling is disabled with one line, the
    program runs on unchanged, and what was mapped is given back."""
    argv = [c.prog("echoer"), "5"]
    base = c.run(argv)
    mfile = os.path.join(c.tmp, "marks-unmapped")
    rc, so, se, traces, _ = c.profile(argv, {"PEAKTRACE_FAILPOINTS": "arena_map=3*off->return",
                                             "PEAKTRACE_COVMARKS_OUT": mfile})
    check((rc, so) == base[:2], f"status {rc} / output changed: {so!r}")
    check(se.count(b"peaktrace:") == 1 and b"cannot map the runtime's tables" in se,
          f"one line: {se!r}")
    check(not traces, f"no trace expected: {traces}")
    if c.debug:
        check(marks(mfile).get("runtime_tables_unmapped", 0) == 1,
              f"the mapped tables were not given back: {marks(mfile)}")


@case
def vfork_children(c):
    """vfork children that _exit (directly or after a failed exec) run on
    the parent's memory and thread-local state, and children of a raw clone
    system call ran no atfork handler: none of them may finish the
    parent's trace or leave its thread unprofiled. The parent's 24 MiB
    after the children is in its whole trace."""
    for mode in ("sampled", "exact"):
        traces, _ = same_as_unprofiled(c, [c.prog("vforker")], {"PEAKTRACE_MODE": mode}, timeout=60)
        check(len(traces) == 1, f"{mode}: one trace (the children exec nothing): {traces}")
        recs, warn = c.decode(traces[0])
        check(recs[-1]["type"] == "end" and not warn, f"{mode}: not whole: {recs[-1]} {warn}")
        check(recs[-1]["peak_bytes"] >= 24 << 20, f"{mode}: the parent's peak is lost: {recs[-1]}")
        got = bytes_in(c.collapsed(traces[0]), "grow_after_children")
        check(got >= 20 << 20, f"{mode}: grow_after_children: {got}")


@case
def sandboxed(c):
    """A program that confines itself right after start, before the writer
    would have created the trace file (it does so lazily): a seccomp
    filter that kills the process on openat (the program died of SIGSYS
    when the writer opened the trace), dropping root (the trace could no
    longer be created: no trace, a message on stderr), a low RLIMIT_NOFILE
    (the trace's descriptor took one of the program's). Output and status
    as unprofiled; the trace is whole; under seccomp it ends at the filter
    with the reason, otherwise it holds the peak made afterwards."""
    modes = ["seccomp", "nofile"] + (["setuid"] if os.geteuid() == 0 else [])
    for mode in modes:
        for pmode in ("sampled", "exact"):
            traces, _ = same_as_unprofiled(c, [c.prog("sandboxed"), mode],
                                           {"PEAKTRACE_MODE": pmode}, timeout=60)
            check(len(traces) == 1, f"{mode}/{pmode}: one trace: {traces}")
            recs, warn = c.decode(traces[0])
            check(recs[-1]["type"] == "end" and not warn, f"{mode}/{pmode}: not whole: {recs[-1]} {warn}")
            trips = [r["reason"] for r in recs if r["type"] == "trip"]
            if mode == "seccomp":
                check(len(trips) == 1 and "seccomp" in trips[0], f"{mode}/{pmode}: trips {trips}")
            else:
                check(not trips, f"{mode}/{pmode}: trips {trips}")
                got = bytes_in(c.collapsed(traces[0]), "peak_after_sandbox")
                check(got >= 16 << 20, f"{mode}/{pmode}: peak_after_sandbox: {got}")


@case
def dies_assert(c):
    """A failed assert() aborts from inside glibc (__assert_fail calls its
    internal abort): the program's message, signal and output as
    unprofiled, and a whole trace with the 24 MiB it held, even when it
    asserted before the writer's first periodic flush (there was no trace
    at all)."""
    for mode in ("sampled", "exact"):
        traces, _ = same_as_unprofiled(c, [c.prog("asserts")], {"PEAKTRACE_MODE": mode}, timeout=60)
        check(len(traces) == 1, f"{mode}: one trace: {traces}")
        recs, warn = c.decode(traces[0])
        check(recs[-1]["type"] == "end" and not warn, f"{mode}: not whole: {recs[-1]} {warn}")
        got = bytes_in(c.collapsed(traces[0]), "held_at_assert")
        check(got >= 20 << 20, f"{mode}: held_at_assert: {got}")


@case
def other_allocator_mappings(c):
    """Another allocator in a shared object after ours (libjemalloc,
    preloaded after libpeaktrace) maps its extents through mmap: those
    mappings hold the blocks the malloc shims count already and must not
    be counted again (known's 107 MB peak was reported near twice that,
    part of it "in libjemalloc"). Skipped when libjemalloc is not
    installed (Debian: libjemalloc2)."""
    je = jemalloc_path()
    if je is None:
        print("skipped: libjemalloc.so.2 not installed")
        return
    want = (64 << 20) + 2048 * 10000 + 200000 * 100
    for mode in ("exact", "sampled"):
        env = {"LD_PRELOAD": c.lib + ":" + je, "PEAKTRACE_MODE": mode}
        if mode == "sampled":
            env["PEAKTRACE_SAMPLE_BYTES"] = "4096"
        st = known_answer(c, env)
        total = sum(st.values())
        check(abs(total - want) <= 0.05 * want, f"{mode}: peak stacks hold {total}, want {want} +-5%")
        check(not any("jemalloc" in s for s in st), f"{mode}: the allocator's own mappings counted: "
              f"{[s for s in st if 'jemalloc' in s][:3]}")


@case
def glibc_abort(c):
    """glibc aborts from inside itself (here: a double free found by
    free()), where no abort shim sees it: SIGABRT is one of the signals the
    guard keeps, so the trace is finished first (there was none at all for
    a process that died within the writer's first 100 ms), and the process
    dies of SIGABRT with glibc's message as unprofiled. And signal() for
    the signals the guard keeps records the handler: sigaction() then
    reports it (it reported SIG_DFL, the guard's stale record)."""
    same_as_unprofiled(c, [c.prog("aborter"), "query"], timeout=60)
    for mode in ("sampled", "exact"):
        traces, _ = same_as_unprofiled(c, [c.prog("aborter"), "corrupt"], {"PEAKTRACE_MODE": mode},
                                       timeout=60)
        check(len(traces) == 1, f"{mode}: one trace: {traces}")
        recs, warn = c.decode(traces[0])
        check(recs[-1]["type"] == "end" and not warn, f"{mode}: not whole: {recs[-1]} {warn}")
        got = bytes_in(c.collapsed(traces[0]), "held_at_corruption")
        check(got >= 20 << 20, f"{mode}: held_at_corruption: {got}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", required=True)
    ap.add_argument("case", nargs="?")
    ap.add_argument("--list", action="store_true")
    a = ap.parse_args()
    if a.list:
        print("\n".join(CASES))
        return 0
    c = Ctx(a.build)
    try:
        CASES[a.case](c)
    except Failure as e:
        print(f"FAIL {a.case}: {e}")
        print(f"(work dir kept: {c.tmp})")
        return 1
    shutil.rmtree(c.tmp, ignore_errors=True)
    print(f"ok {a.case}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
