// Admin: register an algorithm version by uploading its bundle to the API with the session's CSRF header.
"use strict";
(function () {
  var form = document.getElementById("register-form");
  if (!form) return;
  var input = document.getElementById("f-bundle");
  var error = form.querySelector('[data-error-for="bundle"]');
  var bar = document.getElementById("register-progress");
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    error.textContent = "";
    var file = input.files && input.files[0];
    if (!file) { error.textContent = "Choose a bundle file."; input.focus(); return; }
    var max = parseInt(form.dataset.maxBytes || "0", 10);
    if (max && file.size > max) { error.textContent = "The bundle is larger than the limit (" + max + " bytes)."; return; }
    var button = form.querySelector('button[type="submit"]');
    button.disabled = true;
    bar.hidden = false;
    var xhr = new XMLHttpRequest();
    xhr.open("POST", form.dataset.uploadUrl);
    xhr.setRequestHeader("Content-Type", "application/gzip");
    xhr.setRequestHeader("X-CSRF-Token", window.forgeml.csrf());
    xhr.upload.onprogress = function (e) { if (e.lengthComputable) bar.value = Math.round(100 * e.loaded / e.total); };
    xhr.onload = function () {
      var body = {};
      try { body = JSON.parse(xhr.responseText); } catch (e) { /* not JSON */ }
      if (xhr.status === 201) {
        window.location.assign("/admin/algorithms/" + encodeURIComponent(body.algorithm_id));
        return;
      }
      button.disabled = false;
      var err = body.error || {};
      var details = (err.details && err.details.errors) || [];
      error.textContent = (err.message || ("Upload failed (" + xhr.status + ")")) +
        (details.length ? " — " + details.map(function (d) { return d.loc + ": " + d.msg; }).join("; ") : "");
      input.setAttribute("aria-invalid", "true");
    };
    xhr.onerror = function () { button.disabled = false; error.textContent = "Network error; try again."; };
    xhr.send(file);
  });
})();
