// Jobs list: live status badges from the platform's event stream (/api/v1/events/stream).
"use strict";
(function () {
  var table = document.querySelector("[data-live-jobs]");
  if (!table || !window.EventSource) return;
  var source = new EventSource("/api/v1/events/stream?types=training_job.state_changed");
  source.addEventListener("training_job.state_changed", function (e) {
    var env = JSON.parse(e.data);
    var data = env.data || {};
    var rows = document.querySelectorAll('tr[data-job-id="' + CSS.escape(data.job_id || "") + '"]');
    if (!rows.length) {
      var note = document.getElementById("jobs-new");
      if (note && note.firstChild) note.hidden = false;
      return;
    }
    Array.prototype.forEach.call(rows, function (row) {
      var badge = row.querySelector("[data-job-badge]");
      badge.textContent = data.secondary_status;
      badge.className = window.forgeml.badgeClass(data.secondary_status);
    });
  });
})();
