#!/usr/bin/env python3
"""Runs one tests/py case under one interpreter, with and without the
pyspy_preload library, and checks what the Python stack reader attributed.

    run_pytest.py --preload LIB --python EXE --case CASE --workdir DIR

Every run is done twice, unprofiled and with LD_PRELOAD=LIB: stdout, stderr
and exit status must be equal. The preload writes a report (PYSPY_OUT) whose
"sample" lines give the innermost frame (file, function, line), the caller
and the outermost function of each walked allocation of >= 256 KiB; the
programs mark their allocating lines with "# @tag" comments, so the expected
lines are read from the source, not written here.

Exit status 0 on success, 1 with a message on failure, 77 when the case does
not apply (ctest treats it as a failure unless SKIP_RETURN_CODE is set; the
CMake file only registers applicable cases).
"""
import argparse
import os
import re
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
TIMEOUT = 240
ENV_TAIL = " or set PEAKTRACE_ON_ENV_ERROR=disable"


class Failure(Exception):
    pass


def check(cond, msg):
    if not cond:
        raise Failure(msg)


def tags(path):
    """{tag: line} for every '# @tag' comment in path."""
    out = {}
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            m = re.search(r"#\s*@(\w+)\s*$", line)
            if m:
                out[m.group(1)] = n
    return out


def base_env():
    env = dict(os.environ)
    for k in list(env):
        if k in ("LD_PRELOAD", "PEAKTRACE_FAILPOINTS") or (
                k.startswith("PYSPY_") and k != "PYSPY_SPIN_LIB"):
            del env[k]
    env["PYTHONIOENCODING"] = "utf-8"
    return env


def run(cmd, env, cwd):
    p = subprocess.run(cmd, env=env, cwd=cwd, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=TIMEOUT)
    return p.returncode, p.stdout, p.stderr


def interp_version(python):
    rc, out, _ = run([python, "-c", "import platform; print(platform.python_version())"],
                     base_env(), HERE)
    check(rc == 0, "cannot run %s" % python)
    v = out.decode().strip()
    major, minor = (int(x) for x in v.split(".")[:2])
    return v, (major, minor)


def read_report(path):
    rep = {"samples": [], "marks": {}}
    check(os.path.exists(path), "the preload wrote no report (%s)" % path)
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            parts = line.rstrip("\n").split("\t")
            if parts[0] == "sample":
                rep["samples"].append({
                    "count": int(parts[1]), "file": parts[2], "func": parts[3],
                    "line": int(parts[4]), "caller": parts[5],
                    "caller_line": int(parts[6]), "outer": parts[7],
                    "depth": int(parts[8]), "fin": int(parts[9])})
            elif parts[0] == "mark":
                rep["marks"][parts[1]] = int(parts[2])
            elif parts[0] == "probe":
                rep["probe"] = parts[1]
                rep["why"] = parts[2] if len(parts) > 2 else ""
            else:
                val = parts[1] if len(parts) > 1 else ""
                rep[parts[0]] = int(val) if val.isdigit() and parts[0] not in (
                    "version", "readers", "disable") else val
    return rep


class Ctx:
    def __init__(self, args):
        self.preload = os.path.abspath(args.preload)
        self.python = args.python
        self.workdir = os.path.abspath(args.workdir)
        if os.path.isdir(self.workdir):
            shutil.rmtree(self.workdir)
        os.makedirs(self.workdir)
        self.runs = 0

    def profile(self, cmd, extra_env=None, cwd=None):
        """Runs cmd unprofiled and profiled; returns the preload's report."""
        cwd = cwd or self.workdir
        env = base_env()
        rc0, out0, err0 = run(cmd, env, cwd)
        self.runs += 1
        report = os.path.join(self.workdir, "report.%d.txt" % self.runs)
        env = base_env()
        env.update(extra_env or {})
        env["LD_PRELOAD"] = self.preload
        env["PYSPY_OUT"] = report
        rc1, out1, err1 = run(cmd, env, cwd)
        check(rc1 == rc0, "exit status %d under the preload, %d without (stderr: %s)"
              % (rc1, rc0, err1.decode(errors="replace")[-2000:]))
        check(out1 == out0, "stdout differs under the preload:\n%r\nvs\n%r" % (out1, out0))
        check(err1 == err0, "stderr differs under the preload:\n%s\nvs\n%s"
              % (err1.decode(errors="replace")[-2000:], err0.decode(errors="replace")[-2000:]))
        return read_report(report)

    def python_prog(self, name, extra_env=None, copy_as=None):
        src = os.path.join(HERE, name)
        prog = src
        if copy_as:
            prog = os.path.join(self.workdir, copy_as)
            shutil.copyfile(src, prog)
        return self.profile([self.python, prog], extra_env), tags(src)


def dump(rep):
    lines = ["  probe=%s why=%s" % (rep.get("probe"), rep.get("why"))]
    for k in ("version", "walks", "walks_frames", "errors", "faults", "disable"):
        lines.append("  %s=%s" % (k, rep.get(k)))
    for s in sorted(rep["samples"], key=lambda s: -s["count"])[:25]:
        lines.append("  %(count)6d %(file)s:%(line)d %(func)s <- %(caller)s:%(caller_line)d"
                     " ... %(outer)s (depth %(depth)d, finalizing %(fin)d)" % s)
    return "\n".join(lines)


def expect_ok(rep, version):
    check(rep.get("probe") == "ok", "probe: %s %s" % (rep.get("probe"), rep.get("why")))
    check(rep.get("version") == version,
          "version %r, interpreter says %r" % (rep.get("version"), version))
    check(rep.get("errors") == 0, "walk errors: %s (%s)" % (rep.get("errors"), rep.get("disable")))
    check(rep.get("faults") == 0, "faults in walks: %s" % rep.get("faults"))
    check(rep.get("dropped") == 0, "report table overflowed")


def site(rep, fname, func, line):
    return [s for s in rep["samples"]
            if os.path.basename(s["file"]) == fname and s["func"] == func and s["line"] == line]


def expect_site(rep, fname, func, line, count, caller=None, outer=None, exact=True):
    got = site(rep, fname, func, line)
    n = sum(s["count"] for s in got)
    if exact:
        check(n == count, "%s:%d %s: %d samples, expected %d\n%s"
              % (fname, line, func, n, count, dump(rep)))
    else:
        check(n >= count, "%s:%d %s: %d samples, expected at least %d\n%s"
              % (fname, line, func, n, count, dump(rep)))
    for s in got:
        if caller is not None:
            check(s["caller"] == caller, "%s:%d %s: caller %r, expected %r\n%s"
                  % (fname, line, func, s["caller"], caller, dump(rep)))
        if outer is not None:
            check(s["outer"] == outer, "%s:%d %s: outermost %r, expected %r\n%s"
                  % (fname, line, func, s["outer"], outer, dump(rep)))


def expect_only_tagged(rep, fname, tagmap):
    """Every sample whose innermost frame is in the program is at a tag."""
    lines = set(tagmap.values())
    for s in rep["samples"]:
        if os.path.basename(s["file"]) == fname:
            check(s["line"] in lines, "sample at untagged %s:%d (%s)\n%s"
                  % (fname, s["line"], s["func"], dump(rep)))


def qual(minor, new, old):
    """Function name as reported: qualname on 3.11+, co_name before."""
    return new if minor >= 11 else old


# ---- cases -----------------------------------------------------------------

def case_basic(ctx, ver, mm):
    rep, t = ctx.python_prog("prog_basic.py")
    expect_ok(rep, ver)
    m = mm[1]
    f = "prog_basic.py"
    expect_site(rep, f, "alloc_bytes", t["bytes"], 20, caller="main", outer="<module>")
    expect_site(rep, f, "alloc_list", t["list"], 10, caller="main", outer="<module>")
    expect_site(rep, f, "thread_work", t["thread"], 40,
                caller=qual(m, "Thread.run", "run"),
                outer=qual(m, "Thread._bootstrap", "_bootstrap"))
    expect_only_tagged(rep, f, t)
    marks_hit(rep, ["py_name_cache_hit", "py_line_cache_hit", "py_walk_tstate_checked"])
    if m >= 12:
        marks_hit(rep, ["py_shim_frame_skipped"])


def case_generator(ctx, ver, mm):
    rep, t = ctx.python_prog("prog_generator.py")
    expect_ok(rep, ver)
    f = "prog_generator.py"
    expect_site(rep, f, "gen_chunks", t["gen"], 15, caller="consume", outer="<module>")
    expect_only_tagged(rep, f, t)


def case_async(ctx, ver, mm):
    rep, t = ctx.python_prog("prog_async.py")
    expect_ok(rep, ver)
    f = "prog_async.py"
    expect_site(rep, f, "produce", t["async"], 10, outer="<module>")
    expect_only_tagged(rep, f, t)


def case_nested(ctx, ver, mm):
    rep, t = ctx.python_prog("prog_nested.py")
    expect_ok(rep, ver)
    m = mm[1]
    f = "prog_nested.py"
    got = [s for s in site(rep, f, qual(m, "Outer.method.<locals>.inner", "inner"), t["nested"])]
    check(got, "no sample in the nested function\n%s" % dump(rep))
    for s in got:
        check(s["caller_line"] == t["nested_call"],
              "caller line %d, expected %d" % (s["caller_line"], t["nested_call"]))
    expect_site(rep, f, qual(m, "Outer.method.<locals>.inner", "inner"), t["nested"], 10,
                caller=qual(m, "Outer.method", "method"), outer="<module>")
    expect_only_tagged(rep, f, t)


def case_trace(ctx, ver, mm):
    rep, t = ctx.python_prog("prog_trace.py")
    expect_ok(rep, ver)
    f = "prog_trace.py"
    expect_site(rep, f, "traced", t["traced"], 10, caller="<module>", outer="<module>")
    expect_only_tagged(rep, f, t)


def case_ctypes(ctx, ver, mm):
    rep, t = ctx.python_prog("prog_ctypes.py")
    expect_ok(rep, ver)
    m = mm[1]
    f = "prog_ctypes.py"
    # 4 threads x 50 calls, each with the GIL released, each walked
    expect_site(rep, f, "nogil_ctypes", t["ctypes"], 200, caller="worker",
                outer=qual(m, "Thread._bootstrap", "_bootstrap"))
    expect_only_tagged(rep, f, t)


def case_unicode(ctx, ver, mm):
    name = "prog_ünï_日本.py"
    rep, t = ctx.python_prog("prog_unicode.py", copy_as=name)
    expect_ok(rep, ver)
    for func, tag in (("café", "latin1"), ("日本", "ucs2"), ("\U00020000", "ucs4")):
        expect_site(rep, name, func, t[tag], 3, caller="<module>", outer="<module>")
    expect_only_tagged(rep, name, t)
    expect_site(rep, "<string>", "..." + "é" * 510, 2, 3, caller="<module>")
    full = [s["file"] for s in rep["samples"] if os.path.basename(s["file"]) == name]
    check(full and all(x == os.path.join(ctx.workdir, name) for x in full),
          "file names %r" % sorted(set(full)))


def case_daemon(ctx, ver, mm):
    rep, t = ctx.python_prog("prog_daemon.py")
    expect_ok(rep, ver)
    f = "prog_daemon.py"
    m = mm[1]
    # the finalizing thread is walked during finalization ...
    dels = site(rep, f, qual(m, "Holder.__del__", "__del__"), t["del"])
    check(sum(s["count"] for s in dels) == 1 and all(s["fin"] for s in dels),
          "__del__ during finalization: %r\n%s" % (dels, dump(rep)))
    # ... the spinners were walked before finalization ...
    expect_site(rep, f, "spin_c", t["spin"], 1, exact=False,
                outer=qual(m, "Thread._bootstrap", "_bootstrap"))
    expect_only_tagged(rep, f, t)
    # ... and never once it began (their thread states are being freed),
    # although __del__ waited for 3000 of their mallocs
    late = [s for s in rep["samples"] if s["fin"] and s["func"] == "spin_c"]
    check(not late, "daemon threads walked during finalization:\n%s" % dump(rep))
    if rep.get("covmarks") == 1:
        n = rep["marks"].get("py_walk_finalizing_other", 0)
        check(n >= 3000, "%d walks refused during finalization, expected >= 3000" % n)


def case_forced(ctx, ver, mm):
    rep, t = ctx.python_prog("prog_basic.py", {"PYSPY_FORCE_READER": "3.%d" % mm[1]})
    expect_ok(rep, ver)
    expect_site(rep, "prog_basic.py", "alloc_bytes", t["bytes"], 20)
    readers = [r.strip() for r in rep["readers"].split(",")]
    for r in readers:
        rminor = int(r.split(".")[1])
        if rminor == mm[1]:
            continue
        # the probe's layout checks refuse the wrong reader, with the message
        rep = ctx.profile([ctx.python, os.path.join(HERE, "prog_basic.py")],
                          {"PYSPY_FORCE_READER": r})
        check(rep.get("probe") == "unsupported",
              "reader %s accepted by python %s at probe time" % (r, ver))
        pat = (r"python %s is running but does not match the layout of the python "
               r"(3\.%d\.\d+) headers peaktrace's %s reader was built with \((.+)\); "
               r"rebuild peaktrace against python %s headers%s$"
               % (re.escape(ver), rminor, re.escape(r), re.escape(ver), re.escape(ENV_TAIL)))
        check(re.match(pat, rep["why"]), "message for reader %s: %r" % (r, rep["why"]))
        check(rep.get("walks_frames") == 0, "frames walked with a refused reader")
        # without the probe checks, the walk's own checks must stop it:
        # nothing reported, or at most the one error that disables walks.
        # 3.9 and 3.10 differ only in PyFrameObject's tail (f_lasti, f_lineno),
        # which only the probe's frame size check sees.
        rep = ctx.profile([ctx.python, os.path.join(HERE, "prog_basic.py")],
                          {"PYSPY_FORCE_READER": r, "PYSPY_NO_PROBE_CHECKS": "1"})
        check(rep.get("probe") == "ok", "probe without checks: %s" % rep.get("why"))
        check(rep.get("errors") in (0, 1), "errors: %s" % rep.get("errors"))
        if {rminor, mm[1]} != {9, 10}:
            check(rep.get("walks_frames") == 0,
                  "reader %s walked python %s frames unchecked:\n%s" % (r, ver, dump(rep)))
        if rep.get("errors") == 1:
            check(rep["disable"].startswith("python %s stacks disabled: the %s reader's "
                                            "run-time check failed (" % (ver, r)),
                  "disable reason %r" % rep["disable"])


def case_failpoint(ctx, ver, mm):
    rep, _ = ctx.python_prog("prog_basic.py",
                             {"PEAKTRACE_FAILPOINTS": "py_walk_invalid=return"})
    check(rep.get("probe") == "ok", "probe: %s" % rep.get("why"))
    check(rep.get("errors") == 1, "errors %s, expected exactly 1" % rep.get("errors"))
    check(rep.get("walks_frames") == 0, "frames walked after the failure")
    check(rep["disable"] == "python %s stacks disabled: the 3.%d reader's run-time check "
          "failed (failpoint py_walk_invalid fired); allocations are recorded without "
          "python frames" % (ver, mm[1]), "disable reason %r" % rep["disable"])


def case_fake_version(ctx, ver, mm):
    rep, _ = ctx.python_prog("prog_hello.py", {"PYSPY_FAKE_VERSION": "3.14.0"})
    check(rep.get("probe") == "unsupported", "probe %s" % rep.get("probe"))
    check(rep.get("version") == "3.14.0", "version %r" % rep.get("version"))
    want = ("python 3.14.0 is running but this peaktrace was built with readers for %s; "
            "rebuild peaktrace against python 3.14 headers (with a peaktrace release that "
            "supports it)%s" % (rep["readers"], ENV_TAIL))
    check(rep["why"] == want, "message %r\nexpected %r" % (rep["why"], want))
    check(rep.get("walks_frames") == 0, "frames walked while unsupported")


def case_too_old(ctx, ver, mm):
    rep, _ = ctx.python_prog("prog_hello.py")
    check(rep.get("probe") == "unsupported", "probe %s %s" % (rep.get("probe"), rep.get("why")))
    want = ("python %s is running but this peaktrace was built with readers for %s; "
            "python versions before 3.9 are not supported: run the job on python 3.9 to "
            "3.13%s" % (ver, rep["readers"], ENV_TAIL))
    check(rep["why"] == want, "message %r\nexpected %r" % (rep["why"], want))
    check(rep.get("walks") == 0 or rep.get("walks_frames") == 0, "walked an old python")


def case_no_python(ctx, ver, mm):
    # dash _exit()s (no destructors): the report comes from coreutils' echo
    rep = ctx.profile([ctx.python, "-c", "/bin/echo hello; exit 3"])
    check(rep.get("probe") == "none", "probe %s in a shell" % rep.get("probe"))
    check(rep.get("version") == "", "version %r in a shell" % rep.get("version"))


def marks_hit(rep, names):
    if rep.get("covmarks") != 1:
        return  # release build: marks compiled out
    for n in names:
        check(rep["marks"].get(n, 0) > 0, "coverage mark %s not hit" % n)


CASES = {name[5:]: fn for name, fn in globals().items() if name.startswith("case_")}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--preload", required=True)
    ap.add_argument("--spin", required=True, help="the pyspy_spin helper library")
    ap.add_argument("--python", required=True)
    ap.add_argument("--case", required=True, choices=sorted(CASES))
    ap.add_argument("--workdir", required=True)
    args = ap.parse_args()
    os.environ["PYSPY_SPIN_LIB"] = os.path.abspath(args.spin)
    ctx = Ctx(args)
    if args.case == "no_python":
        ver, mm = "", (0, 0)
    else:
        ver, mm = interp_version(args.python)
    try:
        CASES[args.case](ctx, ver, mm)
    except Failure as e:
        print("FAIL %s under %s (%s): %s" % (args.case, args.python, ver, e))
        return 1
    except subprocess.TimeoutExpired as e:
        print("FAIL %s under %s: timeout: %s" % (args.case, args.python, e))
        return 1
    print("ok %s under %s (%s), %d profiled runs" % (args.case, args.python, ver, ctx.runs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
