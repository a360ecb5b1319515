// Build log page: follows the latest environment build live (server-sent events from
// <page>/live): its phase, elapsed time, installed-package count and output lines.
"use strict";
(function () {
  var root = document.getElementById("build");
  if (!root || root.dataset.finished === "true" || !window.EventSource) return;
  var linesEl = document.getElementById("build-lines");
  var after = root.dataset.after || "0";
  var attempt = root.dataset.attempt ? parseInt(root.dataset.attempt, 10) : null;

  function onBuild(b) {
    if (attempt !== null && b.attempt !== attempt) linesEl.textContent = ""; // a rebuild
    attempt = b.attempt;
    document.getElementById("build-summary").textContent = "Build " + b.attempt + ": " + b.phase +
      ", " + Math.round(b.elapsed_s) + " s, " + b.packages_installed + " packages installed";
  }

  function onLine(x) {
    after = String(x.id);
    var atBottom = linesEl.scrollHeight - linesEl.scrollTop - linesEl.clientHeight < 40;
    linesEl.appendChild(document.createTextNode(x.line + "\n"));
    if (atBottom) linesEl.scrollTop = linesEl.scrollHeight;
  }

  function connect() {
    var source = new EventSource(root.dataset.live + "?after=" + after);
    source.addEventListener("build", function (e) { onBuild(JSON.parse(e.data)); });
    source.addEventListener("log", function (e) { onLine(JSON.parse(e.data)); });
    source.addEventListener("end", function () {
      source.close();
      window.location.reload(); // the version's status and the stored log are rendered by the server
    });
    source.onerror = function () {
      source.close();
      window.setTimeout(connect, 3000); // resume after the last line we have
    };
  }
  connect();
})();
