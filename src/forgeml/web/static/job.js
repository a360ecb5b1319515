// Job page: follows the job live (server-sent events from /jobs/<id>/live): status badge,
// timeline, log tail and metric charts (uPlot when `make assets` brought it in, else a table).
"use strict";
(function () {
  var root = document.getElementById("job");
  if (!root) return;
  var jobId = root.dataset.jobId;
  var cursors = { logs: root.dataset.logs || "0", metrics: root.dataset.metrics || "0" };
  var logEl = document.getElementById("log");
  var MAX_LINES = 2000;
  var series = {};
  try { series = JSON.parse(document.getElementById("metric-data").textContent || "{}"); } catch (e) { series = {}; }
  var charts = {};
  window.forgemlCharts = charts; // for the browser tests and the curious console user
  var chartsOn = document.getElementById("charts").dataset.enabled === "true";

  function drawChart(name) {
    if (!chartsOn || !window.uPlot) return false;
    var points = series[name] || [];
    var data = [points.map(function (p) { return p[0]; }), points.map(function (p) { return p[1]; })];
    var holder = document.getElementById("chart-" + name);
    if (!holder) {
      var fig = document.createElement("figure");
      fig.className = "chart";
      fig.id = "chart-" + name;
      fig.setAttribute("aria-label", "Chart of " + name);
      var cap = document.createElement("figcaption");
      cap.textContent = name;
      fig.appendChild(cap);
      document.getElementById("charts").appendChild(fig);
      holder = fig;
    }
    // as wide as the charts area allows (a 390 px phone included), at most 900 px
    var room = document.getElementById("charts").clientWidth || 600;
    var width = Math.max(200, Math.min(room, 900));
    if (charts[name]) { charts[name].setData(data); return true; }
    charts[name] = new window.uPlot({
      width: width, height: 220,
      // uPlot widens one sample's time axis by 86400/ms (years with seconds): use a minute
      scales: { x: { time: true, range: function (u, lo, hi) {
        var xs = u.data[0];
        return xs.length === 1 ? [xs[0] - 30, xs[0] + 30] : [lo, hi];
      } } },
      series: [{}, { label: name, stroke: "#1f5fbf", width: 2, points: { show: points.length < 40 } }],
      axes: [{}, { size: 60 }]
    }, data, holder);
    return true;
  }

  function updateTable(name) {
    var table = document.querySelector("#metrics-table tbody");
    var empty = table.querySelector("tr.empty");
    if (empty) empty.remove();
    var row = null;
    Array.prototype.forEach.call(table.rows, function (r) { if (r.dataset.metric === name) row = r; });
    if (!row) {
      row = table.insertRow();
      row.dataset.metric = name;
      row.insertCell(); row.insertCell(); row.insertCell();
      row.cells[0].textContent = name;
    }
    var points = series[name];
    row.cells[1].textContent = String(points.length);
    row.cells[2].textContent = Number(points[points.length - 1][1]).toPrecision(6).replace(/\.?0+$/, "");
  }

  function drawAll() { Object.keys(series).forEach(function (n) { drawChart(n); updateTable(n); }); }

  function onStatus(s) {
    var badge = document.getElementById("job-badge");
    badge.textContent = s.secondary_status;
    badge.className = window.forgeml.badgeClass(s.secondary_status);
    document.getElementById("job-status").textContent = s.status;
    var phaseEl = document.getElementById("job-phase");
    phaseEl.textContent = s.phase || "";
    phaseEl.hidden = !s.phase || s.terminal;
    document.getElementById("job-pending-text").textContent = s.pending_reason || "";
    document.getElementById("job-pending").hidden = !s.pending_reason;
    // the environment build the job waits on: phase, elapsed, count (never a package name)
    document.getElementById("job-build-text").textContent = s.environment_build || "";
    document.getElementById("job-build").hidden = !s.environment_build;
    var msg = document.getElementById("job-message");
    msg.textContent = s.message || "";
    msg.hidden = !!s.failure_reason; // the failure box says it once
    if (s.failure_reason) {
      document.getElementById("job-failure-text").textContent = s.failure_reason;
      document.getElementById("job-failure").hidden = false;
    }
    var tl = document.getElementById("timeline");
    tl.textContent = "";
    (s.transitions || []).forEach(function (t) {
      var li = document.createElement("li");
      var strong = document.createElement("strong");
      strong.textContent = t.secondary_status;
      li.appendChild(strong);
      var when = document.createElement("span");
      when.className = "muted";
      when.textContent = " " + t.start;
      li.appendChild(when);
      if (t.message && t.message !== s.failure_reason) { li.appendChild(document.createElement("br")); var m = document.createElement("small"); m.textContent = t.message; li.appendChild(m); }
      tl.appendChild(li);
    });
    if (s.terminal) {
      var stop = document.getElementById("stop-form");
      if (stop) stop.hidden = true;
      ended = true;
    }
  }

  function onLog(payload) {
    cursors.logs = String(payload.after);
    if (payload.lines.length) { logEl.hidden = false; document.getElementById("log-empty").hidden = true; }
    var atBottom = logEl.scrollHeight - logEl.scrollTop - logEl.clientHeight < 40;
    logEl.appendChild(document.createTextNode(payload.lines.map(function (l) { return l.text + "\n"; }).join("")));
    var text = logEl.textContent.split("\n");
    if (text.length > MAX_LINES) logEl.textContent = text.slice(text.length - MAX_LINES).join("\n");
    if (atBottom) logEl.scrollTop = logEl.scrollHeight;
  }

  function onMetrics(payload) {
    cursors.metrics = String(payload.after);
    var touched = {};
    payload.samples.forEach(function (s) { (series[s.name] = series[s.name] || []).push([s.t, s.v]); touched[s.name] = true; });
    Object.keys(touched).forEach(function (n) { drawChart(n); updateTable(n); });
  }

  // Elapsed counts on while the job runs (the server rendered it once)
  var ended = root.dataset.finished === "true";
  var started = parseFloat(root.dataset.started || "");
  function fmtDuration(sec) {
    sec = Math.max(0, Math.floor(sec));
    var h = Math.floor(sec / 3600), m = Math.floor((sec % 3600) / 60), s = sec % 60;
    function two(n) { return (n < 10 ? "0" : "") + n; }
    if (h) return h + "h " + two(m) + "m";
    return m ? m + "m " + two(s) + "s" : s + "s";
  }
  function tick() {
    if (ended || isNaN(started)) return;
    document.getElementById("job-elapsed").textContent = fmtDuration(Date.now() / 1000 - started);
  }

  var source = null;
  function connect() {
    source = new EventSource("/jobs/" + encodeURIComponent(jobId) + "/live?logs=" + cursors.logs + "&metrics=" + cursors.metrics);
    source.addEventListener("status", function (e) { onStatus(JSON.parse(e.data)); });
    source.addEventListener("log", function (e) { onLog(JSON.parse(e.data)); });
    source.addEventListener("metrics", function (e) { onMetrics(JSON.parse(e.data)); });
    source.addEventListener("end", function () {
      source.close();
      document.getElementById("log-state").textContent = "The job has ended.";
      // the final metrics and the model link are rendered by the server: reload once
      if (root.dataset.finished !== "true") window.location.reload();
    });
    source.onerror = function () {
      source.close();
      window.setTimeout(connect, 3000); // reconnect from the cursors we have (no duplicates)
    };
  }

  window.addEventListener("load", function () {
    drawAll();
    logEl.scrollTop = logEl.scrollHeight;
    if (root.dataset.finished !== "true") { connect(); window.setInterval(tick, 1000); }
  });
})();
