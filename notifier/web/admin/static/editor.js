// Live preview for the template editor: after a pause in typing, the server renders the template with
// the chosen data and answers with the text, its SMS figures and its problems. textContent only: the
// rendered text is shown, never interpreted as HTML.
(function () {
  "use strict";
  var form = document.getElementById("editor-form");
  if (!form) return;
  var body = document.getElementById("body");
  var subject = document.getElementById("subject");
  var source = document.getElementById("source");
  var dossier = document.getElementById("dossier");
  var state = document.getElementById("preview-state");
  var timer = null;
  var seq = 0;

  function money(value) {
    return String(value).replace(/\B(?=(\d{3})+(?!\d))/g, ".") + " \u0111\u1ed3ng";  // "đồng", as the server writes it
  }
  function set(id, text) {
    var el = document.getElementById(id);
    if (el) el.textContent = text;
  }
  function figures(prefix, f) {
    set(prefix + "-encoding", f ? f.encoding : "\u2014");
    set(prefix + "-chars", f ? String(f.chars) : "\u2014");
    set(prefix + "-segments", f ? String(f.segments) : "\u2014");
    set(prefix + "-cost", f ? money(f.cost_vnd) : "\u2014");
  }
  function fieldName(field) {
    return field === "subject" ? "Tiêu đề" : field === "dossier" ? "Hồ sơ" : "Nội dung";
  }
  function show(data) {
    var list = document.getElementById("preview-problems");
    list.textContent = "";
    data.problems.forEach(function (p) {
      var li = document.createElement("li");
      li.textContent = fieldName(p.field) + (p.line ? ", dòng " + p.line : "") + ": " + p.message;
      list.appendChild(li);
    });
    set("preview-text", data.text || "");
    set("preview-subject", data.subject || "");
    set("kd-text", data.khong_dau_text || "");
    figures("sms", data.sms);
    figures("kd", data.khong_dau);
    form.dataset.previewOk = data.ok ? "1" : "0";
  }
  function refresh() {
    var mine = ++seq;
    state.textContent = "đang cập nhật…";
    fetch(form.dataset.previewUrl, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": form.dataset.csrf },
      body: JSON.stringify({
        agency: form.dataset.agency,
        body: body.value,
        subject: subject ? subject.value : null,
        source: source.value,
        dossier: dossier.value
      })
    }).then(function (r) {
      if (!r.ok) throw new Error("HTTP " + r.status);
      return r.json();
    }).then(function (data) {
      if (mine !== seq) return; // an older answer arriving late must not overwrite a newer one
      show(data);
      state.textContent = "";
      form.dataset.previewSeq = String(mine);
    }).catch(function (err) {
      if (mine === seq) state.textContent = "không xem trước được (" + err.message + ")";
    });
  }
  function later() {
    clearTimeout(timer);
    timer = setTimeout(refresh, 300);
  }
  body.addEventListener("input", later);
  if (subject) subject.addEventListener("input", later);
  dossier.addEventListener("change", function () {
    if (dossier.value) source.value = "dossier";
    refresh();
  });
  source.addEventListener("change", refresh);
})();
