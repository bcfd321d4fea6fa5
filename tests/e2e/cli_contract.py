#!/usr/bin/env python3
"""The reporter and the `peaktrace` command, checked from outside.

One process per case (ctest runs `cli_contract.py --build DIR CASE`, test
names cli.CASE). Each case drives the built `peaktrace` command the way a
script would, through the interface contract of DESIGN.md ("Who uses it,
and how"), on small programs compiled here with the system C compiler, and
checks every output format with a reader written here from the format's
public definition, not with our own code:

  pprof       gzip'd protobuf, profile.proto field numbers (decoded below)
  speedscope  the file-format schema's required keys and index ranges
  collapsed   flamegraph.pl's grammar: `frame;frame;... COUNT` a line
  json        RFC 8259 (Python's json) and the keys docs/JSON.md lists
  svg         well-formed XML (xml.etree)
  html        standalone: no external URL, the embedded JSON parses

Bad input must give ONE line on stderr starting "peaktrace: " and a
non-zero exit; an output file is either complete or not there.
"""
import argparse
import glob
import gzip
import json
import os
import re
import resource
import shutil
import signal
import subprocess
import tempfile
import xml.etree.ElementTree as ET

KNOWN_C = r"""
#include <stdlib.h>
#include <string.h>
__attribute__((noinline)) void *hold_a(size_t n)
{ void *p = malloc(n); memset(p, 1, n); return p; }
__attribute__((noinline)) void *hold_b(size_t n)
{ void *p = malloc(n); memset(p, 1, n); return p; }
/* a symbol with the collapsed format's separator in it */
__attribute__((noinline)) void *semi(size_t n) __asm__("\"semi;colon\"");
__attribute__((noinline)) void *semi(size_t n)
{ void *p = malloc(n); memset(p, 1, n); return p; }
int main(int argc, char **argv)
{
	void *a = hold_a(3000000), *b = hold_b(1000000), *s = semi(500000);
	void *c[100];
	for (int i = 0; i < 100; i++)
		c[i] = hold_b(1000);
	free(b);
	for (int i = 0; i < 100; i++)
		free(c[i]);
	free(a);
	free(s);
	return argc > 1 ? atoi(argv[1]) : 0;
}
"""


class Ctx:
    def __init__(self, build):
        self.build = os.path.abspath(build)
        self.cli = os.path.join(self.build, "cli", "peaktrace")
        self.lib = os.path.join(self.build, "shims", "libpeaktrace.so")
        self.tmp = tempfile.mkdtemp(prefix="pt-cli-")

    def env(self, extra=None):
        e = {k: v for k, v in os.environ.items()
             if not k.startswith("PEAKTRACE_") and k != "LD_PRELOAD"}
        e["PEAKTRACE_LIB"] = self.lib
        e.update(extra or {})
        return e

    def pt(self, args, stdin=None, stdout=subprocess.PIPE, preexec=None,
           timeout=300):
        p = subprocess.run([self.cli] + args, stdin=stdin, stdout=stdout,
                           stderr=subprocess.PIPE, env=self.env(), cwd=self.tmp,
                           timeout=timeout, preexec_fn=preexec)
        return p.returncode, p.stdout, p.stderr.decode("utf-8", "replace")

    def compile(self, name, src):
        c = os.path.join(self.tmp, name + ".c")
        exe = os.path.join(self.tmp, name)
        with open(c, "w") as f:
            f.write(src)
        subprocess.run(["cc", "-O1", "-g", "-fno-omit-frame-pointer",
                        "-fno-inline", "-o", exe, c], check=True)
        return exe

    def known_trace(self, mode="exact"):
        """Runs the known-answer program under `peaktrace run`; its trace."""
        exe = self.compile("known", KNOWN_C)
        out = os.path.join(self.tmp, "out-" + mode)
        rc, _, se = self.pt(["run", "-q", "--no-report", "--out", out,
                             "--mode", mode, "--", exe, "7"])
        assert rc == 7, (rc, se)
        traces = glob.glob(os.path.join(out, "peaktrace-*.ptrace"))
        assert len(traces) == 1, traces
        return traces[0]


def one_error_line(rc, err, want_rc=None):
    assert rc != 0, "expected a failure, got exit 0"
    if want_rc is not None:
        assert rc == want_rc, (rc, err)
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("peaktrace: "), err
    assert "Traceback" not in err


# ---- independent readers ----------------------------------------------------

def _varint(b, i):
    r = s = 0
    while True:
        c = b[i]
        i += 1
        r |= (c & 0x7F) << s
        s += 7
        if not c & 0x80:
            return r, i


def _fields(b):
    i, out = 0, []
    while i < len(b):
        k, i = _varint(b, i)
        fn, wt = k >> 3, k & 7
        if wt == 0:
            v, i = _varint(b, i)
        elif wt == 2:
            n, i = _varint(b, i)
            v = b[i:i + n]
            i += n
            assert len(v) == n, "length-delimited field runs past the end"
        elif wt == 1:
            v, i = b[i:i + 8], i + 8
        elif wt == 5:
            v, i = b[i:i + 4], i + 4
        else:
            raise AssertionError("bad wire type %d" % wt)
        out.append((fn, wt, v))
    return out


def _ints(wt, v):
    if wt == 0:
        return [v]
    r, i = [], 0
    while i < len(v):
        x, i = _varint(v, i)
        r.append(x)
    return r


def read_pprof(data):
    """profile.proto: 1 sample_type, 2 sample, 3 mapping, 4 location,
    5 function, 6 string_table. Returns ([(type, unit)], [(loc ids, values)],
    {location id: [function names]})."""
    raw = gzip.decompress(data)
    st, types, samples, maps, funcs, locs = [], [], [], set(), {}, {}
    parts = _fields(raw)
    for fn, wt, v in parts:
        if fn == 6:
            st.append(v.decode("utf-8"))  # proto3 strings are UTF-8
    assert st and st[0] == "", "string_table[0] must be \"\""

    def s(i):
        assert 0 <= i < len(st), "string index %d out of range" % i
        return st[i]

    for fn, wt, v in parts:
        if fn == 1:
            d = {a: b for a, _, b in _fields(v)}
            types.append((s(d.get(1, 0)), s(d.get(2, 0))))
        elif fn == 3:
            d = {a: b for a, _, b in _fields(v)}
            assert d.get(1, 0) != 0, "mapping id 0"
            maps.add(d[1])
            s(d.get(5, 0))
        elif fn == 5:
            d = {a: b for a, _, b in _fields(v)}
            assert d.get(1, 0) != 0 and d[1] not in funcs, "bad function id"
            funcs[d[1]] = s(d.get(2, 0))
            s(d.get(3, 0))
            s(d.get(4, 0))
    for fn, wt, v in parts:
        if fn == 4:
            lid, mid, names = 0, 0, []
            for a, w, b in _fields(v):
                if a == 1:
                    lid = b
                elif a == 2:
                    mid = b
                elif a == 4:
                    d = {x: y for x, _, y in _fields(b)}
                    assert d.get(1) in funcs, "line.function_id unresolvable"
                    names.append(funcs[d[1]])
            assert lid != 0 and lid not in locs, "bad location id"
            assert mid == 0 or mid in maps, "location.mapping_id unresolvable"
            locs[lid] = names
    for fn, wt, v in parts:
        if fn == 2:
            ids, vals = [], []
            for a, w, b in _fields(v):
                if a == 1:
                    ids += _ints(w, b)
                elif a == 2:
                    vals += _ints(w, b)
            assert len(vals) == len(types), "values and sample_type differ"
            assert all(i in locs for i in ids), "sample.location_id unresolvable"
            samples.append((ids, vals))
    return types, samples, locs


def read_collapsed(text):
    """flamegraph.pl input: {stack: count}; the sum."""
    stacks, total = {}, 0
    assert text == "" or text.endswith("\n")
    for line in text.splitlines():
        m = re.match(r"^(.+) (\d+)$", line)
        assert m, "not a collapsed line: %r" % line
        frames = m.group(1).split(";")
        assert all(frames), "empty frame in %r" % line
        assert m.group(1) not in stacks, "duplicate stack %r" % line
        stacks[m.group(1)] = int(m.group(2))
        total += int(m.group(2))
    return stacks, total


def read_speedscope(d):
    assert d["$schema"] == "https://www.speedscope.app/file-format-schema.json"
    frames = d["shared"]["frames"]
    assert all(isinstance(f["name"], str) for f in frames)
    sums = []
    for p in d["profiles"]:
        assert p["type"] == "sampled", p["type"]
        for k in ("name", "unit", "startValue", "endValue"):
            assert k in p, k
        assert len(p["samples"]) == len(p["weights"])
        for smp in p["samples"]:
            assert all(isinstance(i, int) and 0 <= i < len(frames) for i in smp)
        sums.append(sum(p["weights"]))
    return sums


JSON_KEYS = ["schema", "version", "run", "trips", "warnings", "peak", "series",
             "frames", "stacks", "sites", "threads", "modules"]


def all_formats(c, trace):
    """Renders trace in every format, checks each with its reader, returns
    the numbers each states for the live set at the peak."""
    got = {}
    rc, so, se = c.pt(["report", trace, "--format", "json"])
    assert rc == 0, se
    j = json.loads(so.decode("utf-8"))
    for k in JSON_KEYS:
        assert k in j, "json lacks " + k
    got["json"] = j["peak"]["sampled_bytes"]
    got["json_stacks"] = sum(s["peak_bytes"] for s in j["stacks"])
    rc, so, se = c.pt(["report", trace, "--format", "collapsed"])
    assert rc == 0, se
    stacks, got["collapsed"] = read_collapsed(so.decode("utf-8", "replace"))
    rc, so, se = c.pt(["report", trace, "--format", "pprof"])
    assert rc == 0, se
    types, samples, _ = read_pprof(so)
    col = types.index(("inuse_space", "bytes"))
    got["pprof"] = sum(v[col] for _, v in samples)
    rc, so, se = c.pt(["report", trace, "--format", "speedscope"])
    assert rc == 0, se
    got["speedscope"] = read_speedscope(json.loads(so))[0]
    rc, so, se = c.pt(["report", trace, "--format", "svg"])
    assert rc == 0, se
    ET.fromstring(so)
    html = os.path.join(c.tmp, "html-" + os.path.basename(trace))
    rc, _, se = c.pt(["report", trace, "--format", "html", "-o", html])
    assert rc == 0, se
    page = open(os.path.join(html, "index.html"), encoding="utf-8").read()
    urls = [u for u in re.findall(r"https?://[^\s\"'<>)]+", page)
            if not u.startswith("http://www.w3.org/")]
    assert not urls, "html loads external resources: %r" % urls[:3]
    for attrs, body in re.findall(r"<script([^>]*)>(.*?)</script>", page, re.S):
        if "json" in attrs:
            json.loads(body)
    return got, stacks, j


# ---- cases -----------------------------------------------------------------

def formats_agree(c):
    """Known answer, exact mode: hold_a holds exactly 3000000 bytes at the
    peak, hold_b 1000000 + 100 * 1000, "semi;colon" 500000; every format
    says so, and all state the same total."""
    trace = c.known_trace("exact")
    got, stacks, j = all_formats(c, trace)
    assert len(set(got.values())) == 1, got
    by_leaf = {}
    for s, n in stacks.items():
        leaf = s.split(";")[-1]
        by_leaf[leaf] = by_leaf.get(leaf, 0) + n
    assert by_leaf.get("hold_a") == 3000000, by_leaf
    assert by_leaf.get("hold_b") == 1100000, by_leaf
    # the ';' inside a frame name must not split the frame
    assert by_leaf.get("semi:colon") == 500000, by_leaf
    assert j["peak"]["bytes"] >= 4600000, j["peak"]


def formats_agree_sampled(c):
    trace = c.known_trace("sampled")
    got, _, _ = all_formats(c, trace)
    assert len(set(got.values())) == 1, got


def stdin_trace(c):
    """`report -` reads the trace from standard input, as `decode -` does."""
    trace = c.known_trace("exact")
    rc, want, se = c.pt(["report", trace, "--format", "collapsed"])
    assert rc == 0, se
    with open(trace, "rb") as f:
        rc, so, se = c.pt(["report", "-", "--format", "collapsed"], stdin=f)
    assert rc == 0, se
    assert so == want and so, (so, want)
    with open(trace, "rb") as f:
        rc, so, se = c.pt(["report", "-", "--format", "html"], stdin=f)
    one_error_line(rc, se, 1)
    out = os.path.join(c.tmp, "stdin-html")
    with open(trace, "rb") as f:
        rc, so, se = c.pt(["report", "-", "-o", out], stdin=f)
    assert rc == 0 and os.path.isfile(os.path.join(out, "index.html")), se


def _limit_fsize():
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (64, 64))


def output_never_partial(c):
    """A render that cannot be written completely (here: a 64-byte file
    size limit) leaves no partial OUT and keeps what OUT held before."""
    trace = c.known_trace("exact")
    out = os.path.join(c.tmp, "report.json")
    with open(out, "w") as f:
        f.write("old\n")
    rc, _, se = c.pt(["report", trace, "--format", "json", "-o", out],
                     preexec=_limit_fsize)
    one_error_line(rc, se, 2)
    assert open(out).read() == "old\n", "OUT was clobbered by a failed render"
    new = os.path.join(c.tmp, "new.json")
    rc, _, se = c.pt(["report", trace, "--format", "json", "-o", new],
                     preexec=_limit_fsize)
    one_error_line(rc, se, 2)
    assert not os.path.exists(new), "a partial OUT was left behind"
    left = [n for n in os.listdir(c.tmp) if ".tmp" in n]
    assert not left, left
    os.chmod(out, 0o600)
    rc, _, se = c.pt(["report", trace, "--format", "json", "-o", out])
    assert rc == 0, se
    json.load(open(out))
    mode = os.stat(out).st_mode & 0o777
    assert mode == 0o600, "a private OUT became %o" % mode
    if os.geteuid() != 0:
        # a writable OUT in a directory where no temporary file can be
        # made is still written (in place)
        ro = os.path.join(c.tmp, "ro")
        os.mkdir(ro)
        pre = os.path.join(ro, "pre.json")
        open(pre, "w").close()
        os.chmod(ro, 0o555)
        try:
            rc, _, se = c.pt(["report", trace, "--format", "json", "-o", pre])
            assert rc == 0, se
            json.load(open(pre))
        finally:
            os.chmod(ro, 0o755)


def device_output_kept(c):
    """-o naming something that is not a regular file (/dev/full through a
    symlink) is written in place and never unlinked when the write fails."""
    trace = c.known_trace("exact")
    link = os.path.join(c.tmp, "full")
    os.symlink("/dev/full", link)
    rc, _, se = c.pt(["report", trace, "--format", "text", "-o", link])
    one_error_line(rc, se, 2)
    assert os.path.islink(link), "peaktrace removed the -o target"
    rc, _, se = c.pt(["report", trace, "--format", "text", "-o", "/dev/null"])
    assert rc == 0, se


def stdout_errors(c):
    """Output lost to a full disk is an error, for every command."""
    with open("/dev/full", "wb") as full:
        for args in (["failpoints", "--names"], ["failpoints"], ["--help"],
                     ["report", "--help"]):
            rc, _, se = c.pt(args, stdout=full)
            one_error_line(rc, se, 2)
        trace = c.known_trace("exact")
        for fmt in ("text", "collapsed", "json", "pprof", "speedscope", "svg"):
            rc, _, se = c.pt(["report", trace, "--format", fmt], stdout=full)
            one_error_line(rc, se, 2)


def run_bad_counts(c):
    """--sample-bytes and --stack-depth are checked by `run` with the
    runtime's own limits: a usage error (1) before CMD starts."""
    marker = os.path.join(c.tmp, "ran")
    for opt, val in (("--sample-bytes", "99999999999g"),
                     ("--sample-bytes", "18446744073709551615"),
                     ("--sample-bytes", "0"), ("--sample-bytes", "-5"),
                     ("--sample-bytes", "1x"), ("--sample-bytes", ""),
                     ("--stack-depth", "4294967297"), ("--stack-depth", "1k"),
                     ("--stack-depth", "257"), ("--stack-depth", "0")):
        rc, _, se = c.pt(["run", "--out", c.tmp, opt, val, "--", "touch",
                          marker])
        one_error_line(rc, se, 1)
        assert se.startswith("peaktrace: bad " + opt), se
        assert not os.path.exists(marker), "CMD ran despite " + opt
    rc, _, se = c.pt(["run", "-q", "--no-report", "--out", c.tmp,
                      "--sample-bytes=1024g", "--stack-depth=256", "--",
                      "touch", marker])
    assert rc == 0 and os.path.exists(marker), se


def exit_statuses(c):
    """run exits with CMD's status, 128+N on signal N, 127/126 like a shell
    for a missing or unrunnable CMD."""
    out = os.path.join(c.tmp, "o")
    for cmd, want in ((["sh", "-c", "exit 42"], 42),
                      (["sh", "-c", "kill -9 $$"], 128 + 9),
                      ([os.path.join(c.tmp, "no-such-cmd")], 127),
                      ([c.tmp], 126)):
        rc, _, se = c.pt(["run", "-q", "--out", out, "--"] + cmd)
        assert rc == want, (cmd, rc, se)


FORKS_C = r"""
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
static void *hold(size_t n) { void *p = malloc(n); memset(p, 1, n); return p; }
int main(void)
{
	printf("%d\n", (int)getpid());
	fflush(stdout);
	for (int i = 0; i < 8; i++) {
		if (fork() == 0) {
			hold(2u << 20);
			_exit(0);
		}
		wait(NULL);
	}
	hold(3u << 20);
	return 0;
}
"""


def run_summary_order(c):
    """With several processes, `run` names the main process's report first
    (the one the user is after), then the others by pid."""
    exe = c.compile("forks", FORKS_C)
    out = os.path.join(c.tmp, "o")
    rc, so, se = c.pt(["run", "--out", out, "--", exe])
    assert rc == 0, se
    main_pid = int(so.decode().split()[0])
    pids = [int(m) for m in re.findall(r"report: .*/peaktrace-(\d+)/index\.html$",
                                       se, re.M)]
    assert len(pids) == 9, se
    assert pids[0] == main_pid, (main_pid, pids)
    assert pids[1:] == sorted(pids[1:]), pids


def bad_inputs(c):
    """Unreadable traces and bad usage: one line on stderr, no traceback."""
    empty = os.path.join(c.tmp, "empty.ptrace")
    open(empty, "w").close()
    junk = os.path.join(c.tmp, "junk.ptrace")
    with open(junk, "wb") as f:
        f.write(b"not a trace at all\n" * 10)
    trace = c.known_trace("exact")
    for args, want in ((["report", empty, "--format", "text"], 2),
                       (["report", junk, "--format", "text"], 2),
                       (["report", c.tmp, "--format", "text"], 2),
                       (["report", os.path.join(c.tmp, "nope")], 2),
                       (["report", trace, "--format", "nope"], 1),
                       (["report", trace, "--top", "0"], 1),
                       (["report", trace, "--format", "text", "-o",
                         os.path.join(c.tmp, "missing", "x")], 2),
                       (["report", trace, "--format", "text", "-o", c.tmp], 2),
                       (["decode", empty], 2), (["decode", junk], 2),
                       (["decode", c.tmp], 2), (["run"], 1),
                       (["run", "--mode", "fast", "--", "true"], 1),
                       (["nope"], 1), (["--nope"], 1)):
        rc, _, se = c.pt(args)
        one_error_line(rc, se, want)


CASES = {f.__name__: f for f in (formats_agree, formats_agree_sampled,
                                 stdin_trace, output_never_partial,
                                 device_output_kept, stdout_errors,
                                 run_bad_counts, exit_statuses,
                                 run_summary_order, bad_inputs)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", required=True)
    ap.add_argument("case", choices=sorted(CASES))
    a = ap.parse_args()
    c = Ctx(a.build)
    try:
        CASES[a.case](c)
    finally:
        shutil.rmtree(c.tmp, ignore_errors=True)
    print("ok", a.case)


if __name__ == "__main__":
    main()
