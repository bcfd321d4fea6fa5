// flame_svg.js: click-to-zoom and search for peaktrace's standalone SVG
// flamegraph (report/render_svg.c), in the manner of flamegraph.pl.
// Every frame is a <g class="f"> holding <title>, <rect>, <text>, with
// data-d (depth), data-n (full name), data-v (bytes). Geometry is read
// back from the rects at load. Runs inside the SVG's CDATA: never write
// the three-character sequence that closes a CDATA section here.
"use strict";
(function () {
  var svg = document.documentElement;
  var W = +svg.getAttribute("data-width"), PAD = +svg.getAttribute("data-pad");
  var FONT = +svg.getAttribute("data-font");
  var total = +svg.getAttribute("data-total");
  var frames = [], searchTerm = null, zoomed = null;
  var details = document.getElementById("details");
  var matchedText = document.getElementById("matched");
  var resetZoom = document.getElementById("unzoom");
  var clearSearch = document.getElementById("clear");

  function each(list, fn) { for (var i = 0; i < list.length; i++) fn(list[i], i); }

  each(document.querySelectorAll("g.f"), function (g) {
    var r = g.querySelector("rect"), t = g.querySelector("text");
    frames.push({ g: g, r: r, t: t, x: +r.getAttribute("x"), w: +r.getAttribute("width"),
                  d: +g.getAttribute("data-d"), n: g.getAttribute("data-n"),
                  v: +g.getAttribute("data-v"), fill: r.getAttribute("fill") });
  });

  function fit(f, x, w) {
    var chars = Math.floor((w - 6) / (FONT * 0.59));
    var s = f.n;
    if (chars < 3) s = "";
    else if (s.length > chars) s = s.substring(0, chars - 2) + "..";
    f.t.textContent = s;
    f.t.setAttribute("x", x + 3);
  }

  function place(f, x, w) {
    f.r.setAttribute("x", x);
    f.r.setAttribute("width", w);
    fit(f, x, w);
  }

  function zoom(z) {
    zoomed = z;
    var scale = (W - 2 * PAD) / z.w;
    each(frames, function (f) {
      if (f.d < z.d && f.x <= z.x + 1e-6 && f.x + f.w >= z.x + z.w - 1e-6) {
        f.g.style.display = ""; f.g.classList.add("parent");
        place(f, PAD, W - 2 * PAD);
      } else if (f.d >= z.d && f.x >= z.x - 1e-6 && f.x + f.w <= z.x + z.w + 1e-6 &&
                 f.w * scale >= 0.1) {
        f.g.style.display = ""; f.g.classList.remove("parent");
        place(f, PAD + (f.x - z.x) * scale, f.w * scale);
      } else {
        f.g.style.display = "none";
      }
    });
    resetZoom.style.display = z.d > 0 ? "" : "none";
  }

  function unzoom() {
    zoomed = null;
    each(frames, function (f) {
      f.g.style.display = ""; f.g.classList.remove("parent");
      place(f, f.x, f.w);
    });
    resetZoom.style.display = "none";
  }

  function search(term) {
    searchTerm = term;
    var needle = term.toLowerCase(), count = 0, bytes = 0, lastEnd = -1;
    // frames are in pre-order: a match inside an earlier match's span
    // (one of its descendants) is not counted twice
    each(frames, function (f) {
      var hit = needle !== "" && f.d > 0 && f.n.toLowerCase().indexOf(needle) >= 0;
      f.r.setAttribute("fill", hit ? "rgb(230,0,230)" : f.fill);
      if (hit) {
        f.g.setAttribute("data-match", "1");
        count++;
        if (f.x >= lastEnd - 1e-6) { bytes += f.v; lastEnd = f.x + f.w; }
      } else {
        f.g.removeAttribute("data-match");
      }
    });
    var pct = total > 0 ? (100 * bytes / total) : 0;
    matchedText.textContent = count ? "Matched: " + count + " frames, " + pct.toFixed(1) + "%" : (needle ? "No match" : "");
    matchedText.setAttribute("data-count", count);
    clearSearch.style.display = needle ? "" : "none";
  }

  svg.addEventListener("click", function (e) {
    var g = e.target.closest ? e.target.closest("g.f") : null;
    if (g) {
      for (var i = 0; i < frames.length; i++)
        if (frames[i].g === g) { if (frames[i].d === 0) unzoom(); else zoom(frames[i]); break; }
      return;
    }
    if (e.target.id === "unzoom") unzoom();
    else if (e.target.id === "search") {
      var t = window.prompt("Search frames (substring, case-insensitive)", searchTerm || "");
      if (t !== null) search(t);
    } else if (e.target.id === "clear") search("");
  });
  svg.addEventListener("mouseover", function (e) {
    var g = e.target.closest ? e.target.closest("g.f") : null;
    if (g) details.textContent = g.querySelector("title").textContent;
  });
  svg.addEventListener("mouseout", function () { details.textContent = " "; });
  window.addEventListener("keydown", function (e) {
    if ((e.ctrlKey && e.keyCode === 70) || e.keyCode === 191) {
      e.preventDefault();
      var t = window.prompt("Search frames (substring, case-insensitive)", searchTerm || "");
      if (t !== null) search(t);
    } else if (e.keyCode === 27) { unzoom(); search(""); }
  });
  var m = /[#&]search=([^&]*)/.exec(window.location.hash || "");
  if (m) { try { search(decodeURIComponent(m[1])); } catch (err) { search(m[1]); } }
  if (zoomed === null) resetZoom.style.display = "none";
})();
