// minimix admin page: confirmations for destructive forms and the live
// charts (inline SVG, polled from /admin/metrics.json). No dependencies.
"use strict";

document.addEventListener("submit", function (e) {
  var msg = e.target.getAttribute("data-confirm");
  if (msg && !window.confirm(msg)) {
    e.preventDefault();
  }
});

(function () {
  var charts = document.querySelectorAll("svg[data-chart]");
  if (!charts.length) {
    return;
  }
  var NS = "http://www.w3.org/2000/svg";
  var W = 400, H = 160, PAD = 18;

  function fmt(v, unit) {
    if (unit === "bytes") {
      var u = ["B", "KiB", "MiB", "GiB"], i = 0;
      while (v >= 1024 && i < u.length - 1) { v /= 1024; i++; }
      return v.toFixed(i ? 1 : 0) + " " + u[i];
    }
    if (unit === "count") {
      return String(Math.round(v));
    }
    return v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2);
  }

  function el(name, attrs, text) {
    var e = document.createElementNS(NS, name);
    for (var k in attrs) { e.setAttribute(k, attrs[k]); }
    if (text !== undefined) { e.textContent = text; }
    return e;
  }

  function draw(svg, samples) {
    var key = svg.getAttribute("data-chart");
    var unit = svg.getAttribute("data-unit");
    while (svg.firstChild) { svg.removeChild(svg.firstChild); }
    var vals = samples.map(function (s) { return s[key] || 0; });
    var times = samples.map(function (s) { return Date.parse(s.t); });
    var top = Math.max.apply(null, vals.concat([key === "sessions" ? 1 : 0.1])) * 1.15;
    var grid = el("g", { "class": "grid" });
    for (var i = 0; i <= 4; i++) {
      var y = PAD + (H - 2 * PAD) * i / 4;
      grid.appendChild(el("line", { x1: 0, x2: W, y1: y, y2: y }));
      grid.appendChild(el("text", { x: 2, y: y - 2, "class": "axis" }, fmt(top * (4 - i) / 4, unit)));
    }
    svg.appendChild(grid);
    var out = document.getElementById("v-" + key);
    if (vals.length === 0) {
      if (out) { out.textContent = "waiting for data"; }
      return;
    }
    var t0 = times[0], t1 = Math.max(times[times.length - 1], t0 + 1);
    var pts = vals.map(function (v, i) {
      var x = (times[i] - t0) / (t1 - t0) * W;
      var y = H - PAD - v / top * (H - 2 * PAD);
      return x.toFixed(1) + "," + y.toFixed(1);
    });
    svg.appendChild(el("polygon", { points: "0," + (H - PAD) + " " + pts.join(" ") + " " + W + "," + (H - PAD) }));
    svg.appendChild(el("polyline", { points: pts.join(" ") }));
    if (out) { out.textContent = fmt(vals[vals.length - 1], unit); }
  }

  function poll() {
    fetch("/admin/metrics.json", { credentials: "same-origin", cache: "no-store" })
      .then(function (r) {
        if (r.status === 401) { window.location = "/admin/login"; throw new Error("logged out"); }
        return r.json();
      })
      .then(function (d) {
        charts.forEach(function (svg) { draw(svg, d.samples); });
        document.body.setAttribute("data-samples", String(d.samples.length));
      })
      .catch(function () {})
      .finally(function () { setTimeout(poll, 2000); });
  }
  poll();
})();
