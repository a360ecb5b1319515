// Dataset upload from the browser: files, a folder or an archive, through the datasets API
// (session cookie + X-CSRF-Token). Resumable: the session id and the file list are kept in
// localStorage; choosing the same files again sends only those that have not arrived.
"use strict";
(function () {
  var form = document.getElementById("upload-form");
  if (!form) return;
  var datasetId = form.dataset.dataset;
  var api = "/api/v1/datasets/" + encodeURIComponent(datasetId) + "/uploads";
  var key = "forgeml-upload:" + datasetId;
  var bar = document.getElementById("up-progress");
  var status = document.getElementById("up-status");
  var error = document.getElementById("up-error");
  var button = document.getElementById("up-start");
  var inputs = { files: document.getElementById("up-files"), folder: document.getElementById("up-folder"),
                 archive: document.getElementById("up-archive") };

  function saved() { try { return JSON.parse(window.localStorage.getItem(key) || "null"); } catch (e) { return null; } }
  function save(state) { try { window.localStorage.setItem(key, JSON.stringify(state)); } catch (e) { /* private mode */ } }
  function forget() { try { window.localStorage.removeItem(key); } catch (e) { /* ignore */ } }

  var pending = saved();
  if (pending) {
    status.textContent = "An upload of " + pending.files.length + " file(s) was interrupted. " +
      "Choose the same files again and press Upload to send the rest.";
  }

  function request(method, url, body, headers, onProgress) {
    return new Promise(function (resolve, reject) {
      var xhr = new XMLHttpRequest();
      xhr.open(method, url);
      xhr.setRequestHeader("X-CSRF-Token", window.forgeml.csrf());
      Object.keys(headers || {}).forEach(function (h) { xhr.setRequestHeader(h, headers[h]); });
      if (onProgress) xhr.upload.onprogress = function (e) { onProgress(e.loaded); };
      xhr.onload = function () {
        var data = null;
        try { data = JSON.parse(xhr.responseText); } catch (e) { /* empty */ }
        if (xhr.status >= 200 && xhr.status < 300) resolve(data);
        else reject({ status: xhr.status, body: data });
      };
      xhr.onerror = function () { reject({ status: 0, body: null }); };
      xhr.send(body === undefined ? null : body);
    });
  }
  function json(method, url, body) {
    return request(method, url, body === undefined ? undefined : JSON.stringify(body), { "Content-Type": "application/json" });
  }
  function message(err) {
    var e = (err.body && err.body.error) || {};
    var details = (e.details && e.details.errors) || [];
    if (!err.status) return "The connection was lost. Choose the same files again to resume.";
    return (e.message || ("Upload failed (" + err.status + ")")) +
      (details.length ? " — " + details.slice(0, 5).map(function (d) { return d.loc + ": " + d.msg; }).join("; ") : "");
  }
  function encodePath(path) { return path.split("/").map(encodeURIComponent).join("/"); }

  function chosen() {
    var list = [];
    Array.prototype.forEach.call(inputs.files.files || [], function (f) { list.push({ file: f, path: f.name }); });
    Array.prototype.forEach.call(inputs.folder.files || [], function (f) {
      var rel = f.webkitRelativePath || f.name;
      list.push({ file: f, path: rel.indexOf("/") >= 0 ? rel.slice(rel.indexOf("/") + 1) : rel });
    });
    return list;
  }
  function signature(list) {
    return list.map(function (x) { return x.path + ":" + x.file.size + ":" + x.file.lastModified; }).join("|");
  }

  function progress(done, total) {
    bar.hidden = false;
    bar.value = total ? Math.round(100 * done / total) : 100;
    status.textContent = "Uploaded " + Math.round(bar.value) + "%";
  }

  async function session(list) {
    var sig = signature(list);
    var old = saved();
    if (old && old.signature === sig) {
      try {
        var again = await json("GET", api + "/" + encodeURIComponent(old.upload));
        if (again.version.status === "uploading") return again;
      } catch (e) { /* expired or gone: start over */ }
    }
    var created = await json("POST", api, { files: list.map(function (x) {
      return { path: x.path, size: x.file.size, content_type: x.file.type || null };
    }) });
    save({ upload: created.version.id, signature: sig, files: list.map(function (x) { return x.path; }) });
    return created;
  }

  async function uploadFiles(list) {
    var s = await session(list);
    var arrived = {};
    s.files.forEach(function (f) { if (f.state === "uploaded") arrived[f.path] = true; });
    var total = 0, done = 0;
    list.forEach(function (x) { total += x.file.size; if (arrived[x.path]) done += x.file.size; });
    progress(done, total);
    for (var i = 0; i < list.length; i++) {
      var x = list[i];
      if (arrived[x.path]) continue;
      var base = done;
      await request("PUT", api + "/" + encodeURIComponent(s.version.id) + "/files/" + encodePath(x.path), x.file,
        { "Content-Type": x.file.type || "application/octet-stream" },
        function (loaded) { progress(base + loaded, total); });
      done += x.file.size;
      progress(done, total);
    }
    return s.version.id;
  }

  async function uploadArchive(file) {
    var s = await json("POST", api, { files: [] });
    await request("PUT", api + "/" + encodeURIComponent(s.version.id) + "/archive", file,
      { "Content-Type": "application/octet-stream" }, function (loaded) { progress(loaded, file.size); });
    return s.version.id;
  }

  form.addEventListener("submit", async function (event) {
    event.preventDefault();
    error.textContent = "";
    var list = chosen();
    var archive = inputs.archive.files && inputs.archive.files[0];
    if (!list.length && !archive) { error.textContent = "Choose files, a folder or an archive first."; return; }
    if (list.length && archive) { error.textContent = "Upload files or an archive, not both at once."; return; }
    button.disabled = true;
    try {
      var uploadId = archive ? await uploadArchive(archive) : await uploadFiles(list);
      status.textContent = "Checking and committing…";
      var version = await json("POST", api + "/" + encodeURIComponent(uploadId) + "/commit");
      forget();
      status.textContent = "Version " + version.number + " committed.";
      window.location.assign(form.dataset.base + "/" + encodeURIComponent(datasetId) + "/versions/" + version.number);
    } catch (err) {
      error.textContent = message(err);
      button.disabled = false;
    }
  });
})();
