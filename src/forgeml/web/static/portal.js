// ForgeML portal: small behaviours shared by every page. No inline scripts (CSP: default-src 'self').
"use strict";

// The session's CSRF token for fetch()/XHR calls to the API (header X-CSRF-Token).
window.forgeml = window.forgeml || {};
window.forgeml.csrf = function () {
  var field = document.querySelector('input[name="csrf_token"]');
  var meta = document.querySelector('meta[name="csrf-token"]');
  return (meta && meta.content) || (field && field.value) || "";
};

// The badge class of a job status, for the pages that update statuses live (job.js, jobs.js);
// the server renders the first one with the `badge` filter (web/fmt.py).
window.forgeml.badgeClass = function (status) {
  var s = (status || "").toLowerCase();
  if (s === "completed") return "badge ok";
  if (s === "failed") return "badge bad";
  if (["stopped", "stopping", "interrupted", "maxruntimeexceeded", "maxwaittimeexceeded"].indexOf(s) >= 0) return "badge muted";
  return "badge live";
};

document.addEventListener("submit", function (event) {
  var form = event.target;
  var question = form.getAttribute("data-confirm");
  if (question && !window.confirm(question)) {
    event.preventDefault();
    return;
  }
  // Client-side validation messages next to fields; the server checks again.
  if (!form.noValidate && form.checkValidity && !form.checkValidity()) {
    event.preventDefault();
    showErrors(form);
    return;
  }
  var button = form.querySelector('button[type="submit"]');
  if (button && !form.hasAttribute("data-keep-enabled")) {
    window.setTimeout(function () { button.disabled = true; }, 0);
  }
});

function showErrors(form) {
  var first = null;
  Array.prototype.forEach.call(form.elements, function (el) {
    if (!el.name || !el.validity) return;
    var slot = form.querySelector('[data-error-for="' + el.name + '"]');
    if (el.validity.valid) {
      el.removeAttribute("aria-invalid");
      if (slot && slot.dataset.client === "1") { slot.textContent = ""; }
      return;
    }
    el.setAttribute("aria-invalid", "true");
    if (slot) { slot.textContent = el.validationMessage; slot.dataset.client = "1"; }
    if (!first) first = el;
  });
  if (first) first.focus();
}

document.addEventListener("invalid", function (event) {
  event.preventDefault(); // our messages instead of the browser's bubbles
  var form = event.target.form;
  if (form) showErrors(form);
}, true);

document.addEventListener("input", function (event) {
  var el = event.target;
  if (el.getAttribute && el.getAttribute("aria-invalid") === "true" && el.validity && el.validity.valid) {
    el.removeAttribute("aria-invalid");
    var slot = el.form && el.form.querySelector('[data-error-for="' + el.name + '"]');
    if (slot) slot.textContent = "";
  }
});
