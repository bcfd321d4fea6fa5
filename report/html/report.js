// report.js: the interactive parts of peaktrace's html report
// (report/render_html.c inlines it into index.html): the flamegraph
// (icicle, DOM boxes), its search and zoom, the memory-over-time plot.
//
// Data comes from the JSON script element with id "pt-data", parsed
// with JSON.parse. Trace strings are only ever set with textContent or
// setAttribute, never as markup, so a frame name cannot inject anything.
//
// URL hash parameters (for links and headless tests):
//   #search=TEXT   search on load (matches get class "match"; the count is
//                  in #match-status's data-count attribute)
//   #view=alloc    show all allocations instead of the live set at peak
// This file must never contain the characters that end a script element.
"use strict";
(function () {
  var D = JSON.parse(document.getElementById("pt-data").textContent);
  var KIND = ["py", "native", "unknown"];
  var KIND_LABEL = ["Python frame", "native frame", "unknown frame"];
  var ROW = 20;
  var $ = function (id) { return document.getElementById(id); };

  // ---- formatting -------------------------------------------------------
  function fmtBytes(b) {
    if (b < 1024) return b + " B";
    var u = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"], i = -1;
    while (b >= 1024 && i < 5) { b /= 1024; i++; }
    return (b < 10 ? b.toFixed(1) : b.toFixed(0)) + " " + u[i];
  }
  function fmtInt(n) { return String(Math.round(n)).replace(/\B(?=(\d{3})+(?!\d))/g, ","); }
  function fmtPct(p) { return (p >= 10 ? p.toFixed(1) : p.toFixed(2)) + "%"; }
  function fmtSecs(ns) {
    var s = ns / 1e9;
    if (s < 1) return (s * 1000).toFixed(0) + " ms";
    if (s < 60) return s.toFixed(2) + " s";
    return Math.floor(s / 60) + " min " + Math.round(s % 60) + " s";
  }
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }
  var SVGNS = "http://www.w3.org/2000/svg";
  function sv(tag, attrs, text) {
    var e = document.createElementNS(SVGNS, tag);
    for (var k in attrs) if (Object.prototype.hasOwnProperty.call(attrs, k)) e.setAttribute(k, attrs[k]);
    if (text !== undefined) e.textContent = text;
    return e;
  }

  // ---- colours: a hue family per kind, varied by function name ------------
  function hash(s) {
    var h = 0x811c9dc5;
    for (var i = 0; i < s.length; i++) { h ^= s.charCodeAt(i); h = Math.imul(h, 0x01000193); }
    return h >>> 0;
  }
  var colourCache = {};
  function colour(fi) {
    if (colourCache[fi]) return colourCache[fi];
    var f = D.frames[fi], name = f[0].replace(/ \([^()]*\)$/, ""), h = hash(name);
    var a = (h & 255) / 255, b = ((h >>> 8) & 255) / 255, c;
    if (f[1] === 0) c = "hsl(" + (196 + 26 * a).toFixed(0) + ",70%," + (72 + 10 * b).toFixed(0) + "%)";
    else if (f[1] === 1) c = "hsl(" + (20 + 22 * a).toFixed(0) + ",88%," + (64 + 10 * b).toFixed(0) + "%)";
    else c = "hsl(0,0%," + (76 + 6 * a).toFixed(0) + "%)";
    colourCache[fi] = c;
    return c;
  }

  // ---- the call trees -------------------------------------------------------
  // nodes: flat [frame, parent, value, self, count] per node, pre-order
  function Tree(spec) {
    var a = spec.nodes, n = a.length / 5, i;
    this.n = n;
    this.frame = new Int32Array(n); this.parent = new Int32Array(n);
    this.value = new Float64Array(n); this.self = new Float64Array(n); this.count = new Float64Array(n);
    this.depth = new Int32Array(n); this.x = new Float64Array(n); this.size = new Int32Array(n);
    var next = new Float64Array(n);
    for (i = 0; i < n; i++) {
      this.frame[i] = a[5 * i]; this.parent[i] = a[5 * i + 1]; this.value[i] = a[5 * i + 2];
      this.self[i] = a[5 * i + 3]; this.count[i] = a[5 * i + 4]; this.size[i] = 1;
      var p = this.parent[i];
      if (p >= 0) {
        this.depth[i] = this.depth[p] + 1;
        this.x[i] = next[p]; next[p] += this.value[i]; next[i] = this.x[i];
      }
    }
    for (i = n - 1; i > 0; i--) this.size[this.parent[i]] += this.size[i];
    this.maxDepth = 0;
    for (i = 0; i < n; i++) if (this.depth[i] > this.maxDepth) this.maxDepth = this.depth[i];
  }
  Tree.prototype.name = function (i) { return i === 0 ? "all" : D.frames[this.frame[i]][0]; };
  Tree.prototype.label = function (i, view) {
    return i === 0 ? "all \u2014 " + fmtBytes(this.value[0]) + (view === "peak" ? " live at the peak" : " allocated")
                   : this.name(i);
  };

  var trees = { peak: new Tree(D.views.peak), alloc: new Tree(D.views.alloc) };
  var state = { view: "peak", zoom: 0, search: "", matches: null };
  var flame = $("flame"), tip = $("tooltip");

  function tree() { return trees[state.view]; }

  function render() {
    var t = tree(), W = flame.clientWidth, z = state.zoom, i;
    flame.textContent = "";
    if (t.n <= 1 || t.value[0] <= 0) {
      flame.style.height = "auto";
      flame.appendChild(el("div", "empty", state.view === "peak"
        ? "No sampled allocation was live at the peak." : "No allocation was sampled."));
      return;
    }
    var frag = document.createDocumentFragment(), scale = W / t.value[z], maxD = 0;
    function box(i, x, w, cls) {
      var d = el("div", "fr " + cls);
      d.style.left = x.toFixed(2) + "px";
      d.style.width = Math.max(w, 1).toFixed(2) + "px";
      d.style.top = (t.depth[i] * ROW) + "px";
      if (i !== 0) d.style.background = colour(t.frame[i]);
      if (w >= 26) d.textContent = t.label(i, state.view);
      d.setAttribute("data-i", i);
      if (state.matches && state.matches[i]) d.className += " match";
      frag.appendChild(d);
      if (t.depth[i] > maxD) maxD = t.depth[i];
    }
    // ancestors of the zoomed frame: full width, faded
    var anc = [];
    for (i = t.parent[z]; i >= 0; i = t.parent[i]) anc.push(i);
    for (i = 0; i < anc.length; i++) box(anc[i], 0, W, anc[i] === 0 ? "root anc" : KIND[D.frames[t.frame[anc[i]]][1]] + " anc");
    var end = z + t.size[z], x0 = t.x[z];
    for (i = z; i < end; i++) {
      var w = t.value[i] * scale;
      if (w < 0.35) { i += t.size[i] - 1; continue; }
      box(i, (t.x[i] - x0) * scale, w, i === 0 ? "root" : KIND[D.frames[t.frame[i]][1]]);
    }
    flame.style.height = ((maxD + 1) * ROW + 2) + "px";
    flame.appendChild(frag);
    $("reset-zoom").disabled = z === 0;
    $("zoom-status").textContent = z === 0 ? "" : "zoomed on " + t.name(z);
  }

  function runSearch(term) {
    state.search = term;
    var t = tree(), needle = term.toLowerCase(), count = 0, bytes = 0, end = -1, st = $("match-status");
    state.matches = null;
    if (needle !== "") {
      state.matches = new Uint8Array(t.n);
      // pre-order: a match inside an earlier match's subtree is not counted twice
      for (var i = 1; i < t.n; i++) {
        if (t.name(i).toLowerCase().indexOf(needle) < 0) continue;
        state.matches[i] = 1; count++;
        if (i >= end) { bytes += t.value[i]; end = i + t.size[i]; }
      }
    }
    st.setAttribute("data-count", count);
    st.setAttribute("data-bytes", bytes);
    if (needle === "") { st.textContent = ""; st.className = ""; }
    else if (!count) { st.textContent = "no frame matches"; st.className = ""; }
    else {
      st.textContent = count + (count === 1 ? " frame matches" : " frames match") + ", " +
        fmtPct(100 * bytes / t.value[0]) + " of " + (state.view === "peak" ? "the live set" : "allocations") +
        " (" + fmtBytes(bytes) + ")";
      st.className = "hit";
    }
    render();
  }

  function setView(v) {
    if (!trees[v]) return;
    state.view = v; state.zoom = 0;
    var bs = document.querySelectorAll(".seg button");
    for (var i = 0; i < bs.length; i++) bs[i].className = bs[i].getAttribute("data-view") === v ? "on" : "";
    $("flame-sub").textContent = v === "peak"
      ? "What was live at the peak, by call stack: " + fmtBytes(trees.peak.value[0]) + " in " + fmtInt(trees.peak.count[0]) + " samples"
      : "Every sampled allocation of the run, freed or not: " + fmtBytes(trees.alloc.value[0]) + " in " + fmtInt(trees.alloc.count[0]) + " samples";
    runSearch(state.search);
  }

  // ---- tooltip ---------------------------------------------------------------
  function showTip(e, i) {
    var t = tree(), total = t.value[0];
    tip.textContent = "";
    tip.appendChild(el("div", "n", t.name(i)));
    if (i !== 0) {
      var f = D.frames[t.frame[i]];
      tip.appendChild(el("div", "m", KIND_LABEL[f[1]] + (f[2] ? " in " + f[2] : "")));
    }
    var tb = el("table"), rows = [
      [state.view === "peak" ? "live at peak" : "allocated", fmtBytes(t.value[i]) + "  (" + fmtInt(t.value[i]) + " bytes)"],
      ["share", fmtPct(total > 0 ? 100 * t.value[i] / total : 0) + (state.view === "peak" ? " of the peak live set" : " of all allocations")],
      ["self", fmtBytes(t.self[i])],
      ["samples", fmtInt(t.count[i])]];
    for (var r = 0; r < rows.length; r++) {
      var tr = el("tr");
      tr.appendChild(el("td", "", rows[r][0])); tr.appendChild(el("td", "", rows[r][1]));
      tb.appendChild(tr);
    }
    tip.appendChild(tb);
    tip.hidden = false;
    moveTip(e);
  }
  function moveTip(e) {
    var x = e.clientX + 14, y = e.clientY + 16, r = tip.getBoundingClientRect();
    if (x + r.width > window.innerWidth - 8) x = Math.max(8, e.clientX - r.width - 14);
    if (y + r.height > window.innerHeight - 8) y = Math.max(8, e.clientY - r.height - 12);
    tip.style.left = x + "px"; tip.style.top = y + "px";
  }
  function frameOf(e) {
    var d = e.target;
    while (d && d !== flame) { if (d.getAttribute && d.hasAttribute("data-i")) return +d.getAttribute("data-i"); d = d.parentNode; }
    return -1;
  }
  flame.addEventListener("mousemove", function (e) {
    var i = frameOf(e);
    if (i < 0) { tip.hidden = true; return; }
    if (tip.hidden || tip.getAttribute("data-i") !== String(i)) { tip.setAttribute("data-i", i); showTip(e, i); }
    else moveTip(e);
  });
  flame.addEventListener("mouseleave", function () { tip.hidden = true; });
  flame.addEventListener("click", function (e) {
    var i = frameOf(e);
    if (i < 0) return;
    state.zoom = i === state.zoom ? (i === 0 ? 0 : tree().parent[i]) : i;
    tip.hidden = true;
    render();
  });
  $("reset-zoom").addEventListener("click", function () { state.zoom = 0; render(); });

  var search = $("search"), timer = 0;
  search.addEventListener("input", function () {
    clearTimeout(timer);
    timer = setTimeout(function () { runSearch(search.value); }, 120);
  });
  search.addEventListener("keydown", function (e) {
    if (e.key === "Escape") { search.value = ""; runSearch(""); }
  });
  document.addEventListener("keydown", function (e) {
    if (e.key === "/" && document.activeElement !== search) { e.preventDefault(); search.focus(); }
  });
  var segs = document.querySelectorAll(".seg button");
  for (var s = 0; s < segs.length; s++)
    segs[s].addEventListener("click", function () { setView(this.getAttribute("data-view")); });
  var rows = document.querySelectorAll("tr[data-search]");
  for (var r = 0; r < rows.length; r++)
    rows[r].addEventListener("click", function () {
      search.value = this.getAttribute("data-search");
      runSearch(search.value);
      flame.scrollIntoView({ behavior: "smooth", block: "center" });
    });

  // ---- memory over time -------------------------------------------------------
  function niceStep(range, target, binary) {
    if (range <= 0) return 1;
    var raw = range / target, base = 1;
    if (binary) { while (base * 1024 <= raw) base *= 1024; }
    else { base = Math.pow(10, Math.floor(Math.log(raw) / Math.LN10)); }
    var m = raw / base, steps = binary ? [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024] : [1, 2, 2.5, 5, 10];
    for (var i = 0; i < steps.length; i++) if (steps[i] >= m) return steps[i] * base;
    return steps[steps.length - 1] * base;
  }
  function timeline() {
    var box = $("timeline"), S = D.series, n = S.length / 3, i;
    box.textContent = "";
    if (n < 1) { box.appendChild(el("div", "empty", "No memory samples over time were recorded.")); return; }
    var W = box.clientWidth || 1100, H = 250, L = 72, R = 18, T = 26, B = 34;
    var tmax = Math.max(D.duration_ns, S[3 * (n - 1)], D.peak.t_ns, 1), ymax = Math.max(D.peak.bytes, 1);
    for (i = 0; i < n; i++) ymax = Math.max(ymax, S[3 * i + 1] + S[3 * i + 2]);
    var ystep = niceStep(ymax, 4, true); ymax = Math.ceil(ymax * 1.06 / ystep) * ystep;
    var X = function (t) { return L + (W - L - R) * t / tmax; };
    var Y = function (b) { return T + (H - T - B) * (1 - b / ymax); };
    var g = sv("svg", { width: W, height: H, viewBox: "0 0 " + W + " " + H, role: "img",
                         "aria-label": "memory over time" });
    var grid = sv("g", { "class": "grid" }), axis = sv("g", { "class": "axis" });
    for (var y = 0; y <= ymax + 1e-6; y += ystep) {
      grid.appendChild(sv("line", { x1: L, x2: W - R, y1: Y(y), y2: Y(y) }));
      axis.appendChild(sv("text", { x: L - 8, y: Y(y) + 4, "text-anchor": "end" }, fmtBytes(y)));
    }
    // time ticks in the largest unit the run reaches, decimals as the step needs
    var tu = tmax >= 1e9 ? [1e9, " s"] : tmax >= 1e6 ? [1e6, " ms"] : [1e3, " \u00b5s"];
    var tstep = niceStep(tmax / tu[0], 8, false) * tu[0];
    var dec = Math.max(0, Math.min(3, -Math.floor(Math.log(tstep / tu[0]) / Math.LN10 + 1e-9)));
    for (var k = 0, t = 0; t <= tmax * (1 + 1e-9); k++, t = k * tstep) {
      grid.appendChild(sv("line", { x1: X(t), x2: X(t), y1: T, y2: H - B }));
      axis.appendChild(sv("text", { x: X(t), y: H - B + 17, "text-anchor": "middle" },
                          (t / tu[0]).toFixed(dec) + tu[1]));
    }
    axis.appendChild(sv("line", { x1: L, x2: W - R, y1: H - B, y2: H - B }));
    g.appendChild(grid);
    // stacked areas: heap at the bottom, mapped on top of it
    var heapTop = "", totalTop = "", heapLine = "";
    for (i = 0; i < n; i++) {
      var px = X(S[3 * i]).toFixed(1);
      heapTop += (i ? "L" : "M") + px + "," + Y(S[3 * i + 1]).toFixed(1);
      totalTop += (i ? "L" : "M") + px + "," + Y(S[3 * i + 1] + S[3 * i + 2]).toFixed(1);
    }
    heapLine = heapTop;
    var back = "", x0 = X(S[0]).toFixed(1), x1 = X(S[3 * (n - 1)]).toFixed(1);
    for (i = n - 1; i >= 0; i--) back += "L" + X(S[3 * i]).toFixed(1) + "," + Y(S[3 * i + 1]).toFixed(1);
    g.appendChild(sv("path", { d: totalTop + back + "Z", fill: "rgba(243,163,92,.35)", stroke: "none" }));
    g.appendChild(sv("path", { d: heapTop + "L" + x1 + "," + Y(0) + "L" + x0 + "," + Y(0) + "Z",
                               fill: "rgba(76,131,230,.28)", stroke: "none" }));
    g.appendChild(sv("path", { d: totalTop, fill: "none", stroke: "#e08a3c", "stroke-width": 1.3 }));
    g.appendChild(sv("path", { d: heapLine, fill: "none", stroke: "#2f6fdc", "stroke-width": 1.8 }));
    if (n < 3) // too few points for a curve: show them
      for (i = 0; i < n; i++)
        g.appendChild(sv("circle", { cx: X(S[3 * i]), cy: Y(S[3 * i + 1]), r: 3, fill: "#2f6fdc" }));
    g.appendChild(axis);
    // the peak
    if (D.peak.bytes > 0) {
      var pxp = X(D.peak.t_ns), pyp = Y(D.peak.bytes);
      g.appendChild(sv("line", { x1: pxp, x2: pxp, y1: T - 4, y2: H - B, stroke: "#b3261e",
                                 "stroke-dasharray": "4 3", "stroke-width": 1.2 }));
      g.appendChild(sv("circle", { cx: pxp, cy: pyp, r: 4.5, fill: "#b3261e", stroke: "#fff", "stroke-width": 1.5 }));
      var label = "peak " + fmtBytes(D.peak.bytes) + " at " + fmtSecs(D.peak.t_ns);
      var right = pxp < W * 0.7;
      g.appendChild(sv("text", { x: right ? pxp + 8 : pxp - 8, y: T + 8, "text-anchor": right ? "start" : "end",
                                 "class": "peak-label", id: "peak-label" }, label));
    }
    // legend
    var lg = sv("g", { transform: "translate(" + (W - R - 250) + "," + 6 + ")" });
    lg.appendChild(sv("rect", { x: 0, y: 0, width: 11, height: 11, fill: "rgba(76,131,230,.55)" }));
    lg.appendChild(sv("text", { x: 16, y: 10, "class": "legend-t" }, "heap (malloc)"));
    lg.appendChild(sv("rect", { x: 120, y: 0, width: 11, height: 11, fill: "rgba(243,163,92,.7)" }));
    lg.appendChild(sv("text", { x: 136, y: 10, "class": "legend-t" }, "+ mapped (mmap)"));
    g.appendChild(lg);
    // hover readout
    var cross = sv("line", { y1: T, y2: H - B, stroke: "#5a6572", "stroke-width": 1, visibility: "hidden" });
    var read = sv("text", { x: L + 6, y: T - 10, "class": "readout" }, "");
    g.appendChild(cross); g.appendChild(read);
    g.addEventListener("mousemove", function (e) {
      var r = g.getBoundingClientRect(), mx = (e.clientX - r.left) * W / r.width;
      if (mx < L || mx > W - R) { cross.setAttribute("visibility", "hidden"); read.textContent = ""; return; }
      var tt = (mx - L) / (W - L - R) * tmax, lo = 0, hi = n - 1;
      while (lo < hi) { var mid = (lo + hi) >> 1; if (S[3 * mid] < tt) lo = mid + 1; else hi = mid; }
      if (lo > 0 && Math.abs(S[3 * (lo - 1)] - tt) < Math.abs(S[3 * lo] - tt)) lo--;
      cross.setAttribute("x1", X(S[3 * lo])); cross.setAttribute("x2", X(S[3 * lo]));
      cross.setAttribute("visibility", "visible");
      read.textContent = fmtSecs(S[3 * lo]) + ":  heap " + fmtBytes(S[3 * lo + 1]) + ",  mapped " +
        fmtBytes(S[3 * lo + 2]) + ",  total " + fmtBytes(S[3 * lo + 1] + S[3 * lo + 2]);
    });
    g.addEventListener("mouseleave", function () { cross.setAttribute("visibility", "hidden"); read.textContent = ""; });
    box.appendChild(g);
  }

  // ---- start ---------------------------------------------------------------
  function fromHash() {
    var h = window.location.hash.replace(/^#/, ""), p = {};
    h.split("&").forEach(function (kv) {
      var k = kv.indexOf("=");
      if (k <= 0) return;
      try { p[kv.slice(0, k)] = decodeURIComponent(kv.slice(k + 1).replace(/\+/g, " ")); }
      catch (err) { p[kv.slice(0, k)] = kv.slice(k + 1); }
    });
    if (p.search !== undefined) search.value = p.search;
    state.search = search.value;
    setView(p.view === "alloc" ? "alloc" : "peak");
  }
  window.addEventListener("hashchange", fromHash);
  var rt = 0;
  window.addEventListener("resize", function () {
    clearTimeout(rt);
    rt = setTimeout(function () { render(); timeline(); }, 100);
  });
  fromHash();
  timeline();
  document.body.setAttribute("data-ready", "1");
})();
