#!/usr/bin/env python3
"""viz.py: peaktrace's visual and interchange renderers against real consumers.

    viz.py --mktrace BIN --render BIN --work DIR --artifacts DIR
           [--peaktrace BIN] CASE

One ctest entry per CASE (tests/viz/CMakeLists.txt). Each case writes its
fixture traces with viz_mktrace (a realistic "clean" run with known answers,
and a "hostile" one: markup and invalid UTF-8 in frame names, drops, a trip,
a corrupt chunk), renders them with viz_render (the renderers called
directly) and hands the output to the program a user would:

  svg_*         Python's XML parser (xml.etree): well-formed, the frames and
                their widths, the hostile names as text, no injected element
  speedscope_*  Python's JSON parser and a structural check against
                speedscope's file-format schema; weights sum to the peak
  pprof_*       `go tool pprof` (-raw and -top): sample types, frame names
                and byte totals
  html_*        headless Chromium: the page's script runs (body data-ready),
                the flamegraph shows the frames, #search=NAME marks matches
                and counts them, hostile names create no element; takes the
                screenshots kept as CI artifacts (ARTIFACTS/report*.png)
  cli_formats   `peaktrace report --format html|svg|speedscope|pprof`

Exit 0 pass, 1 fail, 77 skipped (the consumer is not installed; the reason
is printed).
"""
import argparse
import gzip
import html.parser
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET

SKIP = 77
W = 524288
# known answers of `viz_mktrace clean` (see its header comment)
PEAK = 1237319680
LIVE = 2360 * W
TOKENIZER = 1240 * W
MALLOC_AT_PEAK = (1240 + 360) * W      # stacks A and B end in malloc
ALLOC_TOTAL = (60 + 1240 + 80 + 20 + 360 + 480 + 180 + 200) * W
CLEAN_NAMES = ["tokenizer_make_room", "parse_rows_c", "np_array_new",
               "load_events (etl_job.py:42)", "read_csv (pandas/io/parsers/readers.py:1026)",
               "groupby_sum (etl_job.py:86)", "<module> (etl_job.py:132)"]
EVIL = "</script><img src=x onerror=alert(1)>"
HOSTILE_NAMES = [EVIL, "\"quoted\" & 'apos' <b>bold</b> <!-- comment",
                 "donn\u00e9es_\u03c0_\u4e16\u754c",
                 "multi\nline;semi\tcolon ]]> end",
                 "bad\ufffd\ufffd utf8 \ufffd\ufffd overlong",
                 "sep\u2028line\u2029para \\ back"]

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu",
                  "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--no-first-run", "--hide-scrollbars",
                  "--disable-dev-shm-usage", "--mute-audio"]


class Fail(Exception):
    pass


def check(cond, what):
    if not cond:
        raise Fail(what)


def run(cmd, **kw):
    kw.setdefault("stdout", subprocess.PIPE)
    kw.setdefault("stderr", subprocess.PIPE)
    kw.setdefault("timeout", 120)
    return subprocess.run(cmd, **kw)


class Ctx:
    def __init__(self, a):
        self.a = a
        self.dir = os.path.join(a.work, a.case)
        shutil.rmtree(self.dir, ignore_errors=True)
        os.makedirs(self.dir)

    def trace(self, kind):
        path = os.path.join(self.dir, kind + ".ptrace")
        p = run([self.a.mktrace, kind, path])
        check(p.returncode == 0, "viz_mktrace %s failed: %s" % (kind, p.stderr.decode()))
        return path

    def render(self, kind):
        """Renders fixture `kind`; returns the output folder."""
        trace = self.trace(kind)
        out = os.path.join(self.dir, kind)
        p = run([self.a.render, trace, out])
        check(p.returncode == 0, "viz_render %s exited %d: %s" % (kind, p.returncode, p.stderr.decode()))
        return out


# ---- svg -------------------------------------------------------------------------

SVG = "{http://www.w3.org/2000/svg}"


def svg_frames(path):
    root = ET.parse(path).getroot()  # raises on malformed XML
    check(root.tag == SVG + "svg", "root element is %r, not svg" % root.tag)
    frames = {}
    for g in root.iter(SVG + "g"):
        if "f" not in (g.get("class") or "").split():
            continue
        rect = g.find(SVG + "rect")
        title = g.find(SVG + "title")
        check(rect is not None and title is not None, "frame group without rect/title")
        frames.setdefault(g.get("data-n"), []).append(
            (float(rect.get("width")), int(g.get("data-v")), title.text or "", int(g.get("data-d"))))
    scripts = list(root.iter(SVG + "script"))
    check(len(scripts) == 1 and "function zoom" in (scripts[0].text or ""),
          "the zoom/search script is missing")
    return root, frames


def case_svg_xml(c):
    out = c.render("clean")
    root, frames = svg_frames(os.path.join(out, "flame.svg"))
    for n in CLEAN_NAMES:
        check(n in frames, "frame %r missing from the svg (have %s)" % (n, sorted(frames)))
    check(frames["all"][0][1] == LIVE, "root holds %d bytes, want %d" % (frames["all"][0][1], LIVE))
    full = frames["all"][0][0]
    w, v, title, d = frames["tokenizer_make_room"][0]
    check(v == TOKENIZER, "tokenizer_make_room holds %d bytes, want %d" % (v, TOKENIZER))
    want = full * TOKENIZER / LIVE
    check(abs(w - want) < 0.5, "tokenizer_make_room is %.2f px wide, want %.2f" % (w, want))
    check("52.54%" in title, "title %r lacks the share of the peak" % title)
    check(d == 9, "tokenizer_make_room at depth %d, want 9 (icicle, root 0)" % d)
    # frames freed before the peak are not in the peak flamegraph
    check(not any(n.startswith("load_config") for n in frames), "a frame freed before the peak is drawn")
    print("svg: %d distinct frames, well-formed" % len(frames))


def case_svg_hostile(c):
    out = c.render("hostile")
    root, frames = svg_frames(os.path.join(out, "flame.svg"))
    names = {n.split(" (evil")[0] for n in frames}
    for n in HOSTILE_NAMES:
        check(n in names, "hostile name %r did not survive as text (have %r)" % (n, sorted(names)))
    tags = {el.tag for el in root.iter()}
    check(not any(t.endswith("img") or t.endswith("b") or t == "script" for t in tags),
          "an element was injected: %s" % sorted(tags))
    print("svg: hostile names kept as text, no injected element")


# ---- speedscope ---------------------------------------------------------------------

def speedscope_validate(doc):
    """Structural check against https://www.speedscope.app/file-format-schema.json."""
    check(isinstance(doc, dict), "top level is not an object")
    check(doc.get("$schema") == "https://www.speedscope.app/file-format-schema.json", "bad $schema")
    check(isinstance(doc.get("shared"), dict) and isinstance(doc["shared"].get("frames"), list),
          "shared.frames missing")
    frames = doc["shared"]["frames"]
    for f in frames:
        check(isinstance(f, dict) and isinstance(f.get("name"), str), "frame without a string name: %r" % f)
        check(set(f) <= {"name", "file", "line", "col"}, "frame has unknown keys: %r" % f)
        check("file" not in f or isinstance(f["file"], str), "frame file not a string")
        check("line" not in f or (isinstance(f["line"], int) and f["line"] > 0), "frame line not a number")
    profiles = doc.get("profiles")
    check(isinstance(profiles, list) and profiles, "profiles missing or empty")
    for p in profiles:
        check(p.get("type") == "sampled", "profile type %r" % p.get("type"))
        check(isinstance(p.get("name"), str), "profile name")
        check(p.get("unit") in ("none", "nanoseconds", "microseconds", "milliseconds", "seconds", "bytes"),
              "profile unit %r" % p.get("unit"))
        for k in ("startValue", "endValue"):
            check(isinstance(p.get(k), (int, float)), "profile %s" % k)
        check(p["endValue"] >= p["startValue"], "endValue < startValue")
        check(isinstance(p.get("samples"), list) and isinstance(p.get("weights"), list), "samples/weights")
        check(len(p["samples"]) == len(p["weights"]), "samples and weights differ in length")
        for s in p["samples"]:
            check(isinstance(s, list) and s, "a sample is not a non-empty list")
            for i in s:
                check(isinstance(i, int) and 0 <= i < len(frames), "frame index %r out of range" % i)
        check(all(isinstance(w, (int, float)) and w >= 0 for w in p["weights"]), "bad weight")
        check(sum(p["weights"]) == p["endValue"] - p["startValue"], "weights do not sum to endValue")
    check("activeProfileIndex" not in doc or 0 <= doc["activeProfileIndex"] < len(profiles),
          "activeProfileIndex out of range")
    check(isinstance(doc.get("exporter", ""), str) and isinstance(doc.get("name", ""), str), "name/exporter")
    return frames, profiles


def case_speedscope_json(c):
    out = c.render("clean")
    with open(os.path.join(out, "profile.speedscope.json"), encoding="utf-8") as f:
        doc = json.load(f)
    frames, profiles = speedscope_validate(doc)
    check(doc["exporter"].startswith("peaktrace "), "exporter %r" % doc.get("exporter"))
    peak = profiles[0]
    check(peak["unit"] == "bytes" and peak["endValue"] == LIVE,
          "peak profile sums to %r, want %d" % (peak["endValue"], LIVE))
    check(profiles[1]["endValue"] == ALLOC_TOTAL,
          "allocation profile sums to %r, want %d" % (profiles[1]["endValue"], ALLOC_TOTAL))
    byname = {f["name"]: i for i, f in enumerate(frames)}
    for n in ("tokenizer_make_room", "load_events", "<module>", "read_csv"):
        check(n in byname, "frame %r missing" % n)
    check(frames[byname["load_events"]].get("file") == "etl_job.py" and
          frames[byname["load_events"]].get("line") == 42, "load_events lacks file/line")
    # the tokenizer's stack: outermost first, <module> ... tokenizer_make_room, malloc
    tok = [i for i, s in enumerate(peak["samples"]) if byname["tokenizer_make_room"] in s]
    check(len(tok) == 1 and peak["weights"][tok[0]] == TOKENIZER, "tokenizer stack weight")
    s = peak["samples"][tok[0]]
    check(s[0] == byname["<module>"] and s[-2] == byname["tokenizer_make_room"],
          "stack order is not outermost first: %r" % [frames[i]["name"] for i in s])
    print("speedscope: %d frames, %d samples, valid" % (len(frames), len(peak["samples"])))


def case_speedscope_hostile(c):
    out = c.render("hostile")
    raw = open(os.path.join(out, "profile.speedscope.json"), "rb").read()
    doc = json.loads(raw.decode("utf-8"))  # strict: raises on invalid UTF-8
    frames, profiles = speedscope_validate(doc)
    names = {f["name"] for f in frames}
    for n in HOSTILE_NAMES:
        check(n in names, "hostile name %r not round-tripped (have %r)" % (n, sorted(names)))
    print("speedscope: hostile names round-trip through JSON")


# ---- pprof -------------------------------------------------------------------------------

def go_pprof(args, path):
    go = shutil.which("go")
    if not go:
        print("SKIP: `go` is not installed (Debian package golang-go): cannot run `go tool pprof`")
        sys.exit(SKIP)
    env = dict(os.environ)
    tmp = tempfile.mkdtemp(prefix="viz-pprof-")
    env.update(HOME=tmp, PPROF_TMPDIR=tmp, GOCACHE=os.path.join(tmp, "cache"), GOFLAGS="-mod=mod",
               GOTOOLCHAIN="local", GOPROXY="off", PPROF_BINARY_PATH="/nonexistent")
    p = run([go, "tool", "pprof"] + args + [path], env=env)
    shutil.rmtree(tmp, ignore_errors=True)
    check(p.returncode == 0, "go tool pprof %s failed: %s" % (" ".join(args), p.stderr.decode()))
    return p.stdout.decode("utf-8", "replace")


def top_table(text):
    """-top output -> {name: (flat, cum)} in bytes (with -unit=B)."""
    rows = {}
    for line in text.splitlines():
        m = re.match(r"\s*(\d+)B?\s+[\d.]+%\s+[\d.]+%\s+(\d+)B?\s+[\d.]+%\s+(.*)$", line)
        if m:
            rows[m.group(3).strip()] = (int(m.group(1)), int(m.group(2)))
    return rows


def case_pprof_go(c):
    out = c.render("clean")
    path = os.path.join(out, "profile.pb.gz")
    with open(path, "rb") as f:
        check(f.read(2) == b"\x1f\x8b", "not gzip")
    raw = go_pprof(["-raw"], path)
    check("alloc_objects/count alloc_space/bytes inuse_objects/count inuse_space/bytes[dflt]" in raw,
          "sample types / default wrong:\n" + raw[:800])
    check("PeriodType: space bytes" in raw and "Period: 524288" in raw, "period")
    top = go_pprof(["-top", "-unit=B", "-nodecount=100"], path)
    rows = top_table(top)
    check(("Total samples = %dB" % LIVE) in top or ("of %dB total" % LIVE) in top,
          "inuse_space total is not %d:\n%s" % (LIVE, top))
    for n in ("tokenizer_make_room", "parse_rows_c", "load_events", "read_csv", "<module>", "<listcomp>",
              "np_array_new"):
        check(n in rows, "function %r missing from `go tool pprof -top`:\n%s" % (n, top))
    check(rows["tokenizer_make_room"][1] == TOKENIZER, "tokenizer_make_room cum %d, want %d"
          % (rows["tokenizer_make_room"][1], TOKENIZER))
    check(rows["<module>"][1] == LIVE, "<module> cum %d, want %d" % (rows["<module>"][1], LIVE))
    # glibc's malloc, or a sanitizer's interceptor in an ASan build
    mallocs = [r for n, r in rows.items()
               if n in ("malloc", "__libc_malloc", "__interceptor_malloc", "___interceptor_malloc")]
    check(mallocs and mallocs[0][0] == MALLOC_AT_PEAK, "malloc flat %r, want %d" % (mallocs, MALLOC_AT_PEAK))
    check("load_config" not in rows, "a function freed before the peak is in inuse_space")
    alloc = top_table(go_pprof(["-top", "-unit=B", "-nodecount=100", "-sample_index=alloc_space"], path))
    check(alloc.get("<module>", (0, 0))[1] == ALLOC_TOTAL, "alloc_space total %r, want %d"
          % (alloc.get("<module>"), ALLOC_TOTAL))
    check(alloc.get("load_config", (0, 0))[1] == 60 * W, "load_config alloc_space %r" % (alloc.get("load_config"),))
    objs = top_table(go_pprof(["-top", "-nodecount=100", "-sample_index=inuse_objects"], path))
    check(objs.get("tokenizer_make_room", (0, 0))[1] == 1240, "inuse_objects of the tokenizer %r"
          % (objs.get("tokenizer_make_room"),))
    print("pprof: go tool pprof reads it; totals and names as expected")


def case_pprof_hostile(c):
    out = c.render("hostile")
    path = os.path.join(out, "profile.pb.gz")
    gzip.open(path).read()
    raw = go_pprof(["-raw"], path)
    # function names (pprof prints them as they are)
    for n in (EVIL, "donn\u00e9es_\u03c0_\u4e16\u754c"):
        check(n in raw, "hostile name %r missing from -raw" % n)
    print("pprof: hostile trace reads")


# ---- html in chromium -------------------------------------------------------------------

def chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        p = shutil.which(name)
        if p:
            return p
    print("SKIP: chromium is not installed (Debian package chromium): cannot test the html report")
    sys.exit(SKIP)


def chrome(args, url, tries=2):
    exe = chromium()
    for attempt in range(tries):
        prof = tempfile.mkdtemp(prefix="viz-chromium-")
        try:
            p = run([exe] + CHROMIUM_FLAGS + ["--user-data-dir=" + prof] + args + [url], timeout=120)
        except subprocess.TimeoutExpired:
            p = None
        shutil.rmtree(prof, ignore_errors=True)
        if p is not None and p.returncode == 0:
            return p.stdout.decode("utf-8", "replace")
    raise Fail("chromium %s failed: %s" % (" ".join(args), p.stderr.decode()[-2000:] if p else "timeout"))


class Dom(html.parser.HTMLParser):
    """The few facts the tests need from a --dump-dom."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack = []
        self.frames = []     # (text, classes) of flamegraph boxes
        self.elements = []   # every start tag
        self.attrs = {}      # id -> attrs
        self.body = {}
        self.title = ""
        self.cur = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.elements.append(tag)
        if tag == "body":
            self.body = a
        if "id" in a:
            self.attrs[a["id"]] = a
        cls = (a.get("class") or "").split()
        if tag == "div" and "fr" in cls:
            self.cur = [[], cls]
        if tag not in ("br", "img", "input", "meta", "link", "hr", "col", "area", "base", "wbr",
                       "source", "track", "embed", "param"):
            self.stack.append(tag)

    def handle_endtag(self, tag):
        if tag == "div" and self.cur is not None:
            self.frames.append(("".join(self.cur[0]), self.cur[1]))
            self.cur = None
        while self.stack:
            if self.stack.pop() == tag:
                break

    def handle_data(self, data):
        if self.cur is not None:
            self.cur[0].append(data)
        if self.stack and self.stack[-1] == "title":
            self.title += data


def dump(url):
    d = Dom()
    d.feed(chrome(["--dump-dom", "--window-size=1280,900", "--virtual-time-budget=3000"], url))
    check(d.body.get("data-ready") == "1", "the report's script did not finish (body lacks data-ready)")
    return d


def screenshot(c, url, name, size="1280,900"):
    os.makedirs(c.a.artifacts, exist_ok=True)
    png = os.path.join(c.a.artifacts, name)
    if os.path.exists(png):
        os.unlink(png)
    chrome(["--screenshot=" + png, "--window-size=" + size, "--virtual-time-budget=3000"], url)
    check(os.path.exists(png) and os.path.getsize(png) > 20000, "screenshot %s missing or blank" % png)
    with open(png, "rb") as f:
        check(f.read(8) == b"\x89PNG\r\n\x1a\n", "screenshot is not a PNG")
    print("screenshot: " + png)


def url_of(out, frag=""):
    return "file://" + os.path.abspath(os.path.join(out, "report", "index.html")) + frag


def case_html_chromium(c):
    out = c.render("clean")
    d = dump(url_of(out))
    texts = [t for t, _ in d.frames]
    check(len(texts) >= 15, "only %d flamegraph boxes drawn" % len(texts))
    for n in CLEAN_NAMES:
        check(n in texts, "flamegraph box %r not shown (have %r)" % (n, texts))
    check(any(t.startswith("all") for t in texts), "no root box")
    kinds = {n: cls for n, cls in d.frames}
    check("py" in kinds["load_events (etl_job.py:42)"] and "native" in kinds["tokenizer_make_room"],
          "Python and native frames are not told apart by class")
    check("warnings" not in d.attrs, "a clean trace shows the warnings banner")
    check("card-peak" in d.attrs and "timeline" in d.attrs and "top-sites" in d.attrs, "a section is missing")
    check("match" not in " ".join(" ".join(c_) for _, c_ in d.frames), "matches without a search")
    screenshot(c, url_of(out), "report.png")
    screenshot(c, url_of(out), "report-full.png", "1280,2000")
    print("html: %d boxes, script ran" % len(texts))


def case_html_search(c):
    out = c.render("clean")
    d = dump(url_of(out, "#search=np_array"))
    matched = [t for t, cls in d.frames if "match" in cls]
    check(sorted(matched) == ["np_array_new", "np_array_new"], "matched boxes: %r" % matched)
    st = d.attrs.get("match-status", {})
    check(st.get("data-count") == "2", "match count %r, want 2" % st.get("data-count"))
    want = (360 + 480 + 180) * W
    check(st.get("data-bytes") == str(want), "matched bytes %r, want %d" % (st.get("data-bytes"), want))
    # case-insensitive, URL-encoded; the alloc view
    d = dump(url_of(out, "#view=alloc&search=LOAD%5Fconfig"))
    matched = [t for t, cls in d.frames if "match" in cls]
    check(matched == ["load_config (etl_job.py:21)"], "alloc view matches %r" % matched)
    check(d.attrs["match-status"].get("data-count") == "1", "alloc view match count")
    d = dump(url_of(out, "#search=no-such-frame"))
    check(d.attrs["match-status"].get("data-count") == "0" and
          not [t for t, cls in d.frames if "match" in cls], "a search for nothing matched")
    screenshot(c, url_of(out, "#search=np_array"), "report-search.png")
    print("html: search marks and counts matches")


def case_html_injection(c):
    out = c.render("hostile")
    page = open(os.path.join(out, "report", "index.html"), "rb").read()
    check(page.count(b"</script>") == 2, "raw </script> from trace data in the page")
    check(b"<img" not in page and b"<b>bold</b>" not in page and b"<b>x</b>" not in page,
          "raw markup from the trace in the page")
    d = dump(url_of(out))
    check("img" not in d.elements, "an <img> element was injected into the DOM")
    check(d.elements.count("script") == 2, "script elements: %d" % d.elements.count("script"))
    texts = [t for t, _ in d.frames]
    for n in HOSTILE_NAMES:
        if n == "multi\nline;semi\tcolon ]]> end":
            continue  # the parser folds whitespace; checked in svg/speedscope
        check(any(t.startswith(n) for t in texts), "hostile name %r not shown as text (have %r)" % (n, texts))
    check("peaktrace" in d.title and "alert" in d.title, "title %r" % d.title)
    check("warnings" in d.attrs, "no warnings banner for a trace with drops and a trip")
    # the same page through a search for the hostile name
    d = dump(url_of(out, "#search=" + "%3C%2Fscript%3E%3Cimg"))
    check(d.attrs["match-status"].get("data-count") == "1", "searching the hostile name")
    check("img" not in d.elements, "an <img> element appeared after a search")
    screenshot(c, url_of(out), "report-hostile.png", "1280,1300")
    print("html: hostile names stay text; banner shown")


# ---- cli ------------------------------------------------------------------------------------

def case_cli_formats(c):
    if not c.a.peaktrace:
        raise Fail("no peaktrace binary given")
    check(os.path.exists(c.a.peaktrace), "the peaktrace binary %s is not built" % c.a.peaktrace)
    trace = c.trace("clean")
    for fmt, name in (("svg", "x.svg"), ("speedscope", "x.json"), ("pprof", "x.pb.gz"), ("html", "rep")):
        out = os.path.join(c.dir, name)
        p = run([c.a.peaktrace, "report", trace, "--format", fmt, "-o", out])
        check(p.returncode == 0, "peaktrace report --format %s exited %d: %s"
              % (fmt, p.returncode, p.stderr.decode()))
        if fmt == "html":
            check(os.path.getsize(os.path.join(out, "index.html")) > 10000, "html report empty")
        else:
            check(os.path.getsize(out) > 200, "%s output empty" % fmt)
    ET.parse(os.path.join(c.dir, "x.svg"))
    speedscope_validate(json.load(open(os.path.join(c.dir, "x.json"))))
    check(gzip.open(os.path.join(c.dir, "x.pb.gz")).read()[:1] == b"\x0a", "pprof does not start with sample_type")
    # stdout works for the file formats
    p = run([c.a.peaktrace, "report", trace, "--format", "svg"])
    check(p.returncode == 0 and p.stdout.startswith(b"<?xml"), "svg to stdout")
    print("cli: every format renders through `peaktrace report`")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mktrace", required=True)
    ap.add_argument("--render", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--artifacts", required=True)
    ap.add_argument("--peaktrace")
    ap.add_argument("case")
    a = ap.parse_args()
    fn = globals().get("case_" + a.case)
    if not fn:
        print("viz.py: unknown case %r" % a.case)
        return 1
    try:
        fn(Ctx(a))
    except Fail as e:
        print("FAIL %s: %s" % (a.case, e))
        return 1
    print("PASS " + a.case)
    return 0


if __name__ == "__main__":
    sys.exit(main())
