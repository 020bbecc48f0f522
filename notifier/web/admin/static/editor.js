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
  var syntax = document.getElementById("syntax");
  var gutter = document.getElementById("gutter");
  var timer = null;
  var seq = 0;
  var errorLines = {};
  var lastField = body;  // where a field from the list goes: the body, or the subject when it had focus

  // The gutter: one number per line of the text box, scrolled with it; lines with a problem in red.
  function drawGutter() {
    if (!gutter) return;
    var count = Math.max(body.value.split("\n").length, 14);
    gutter.textContent = "";
    for (var n = 1; n <= count; n++) {
      var span = document.createElement("span");
      span.textContent = String(n);
      if (errorLines[n]) span.className = "err";
      gutter.appendChild(span);
      gutter.appendChild(document.createTextNode("\n"));
    }
    gutter.scrollTop = body.scrollTop;
  }
  function goToLine(line) {
    var lines = body.value.split("\n");
    var at = 0;
    for (var i = 0; i < line - 1 && i < lines.length; i++) at += lines[i].length + 1;
    body.focus();
    body.setSelectionRange(at, at + (lines[line - 1] || "").length);
  }
  // Inserts `text` at the cursor (replacing a selection) and leaves the cursor after it.
  function insert(el, text) {
    var start = el.selectionStart, end = el.selectionEnd;
    el.value = el.value.slice(0, start) + text + el.value.slice(end);
    el.focus();
    el.setSelectionRange(start + text.length, start + text.length);
    el.dispatchEvent(new Event("input", { bubbles: true }));
  }

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
    errorLines = {};
    data.problems.forEach(function (p) {
      var li = document.createElement("li");
      if (p.line && p.field === "body") {
        errorLines[p.line] = true;
        var go = document.createElement("button");
        go.type = "button";
        go.className = "goto";
        go.textContent = fieldName(p.field) + ", dòng " + p.line;
        go.addEventListener("click", function () { goToLine(p.line); });
        li.appendChild(go);
        li.appendChild(document.createTextNode(": " + p.message));
      } else {
        li.textContent = fieldName(p.field) + (p.line ? ", dòng " + p.line : "") + ": " + p.message;
      }
      list.appendChild(li);
    });
    drawGutter();
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
        dossier: dossier.value,
        syntax: syntax ? syntax.value : null
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
  body.addEventListener("input", function () { drawGutter(); later(); });
  body.addEventListener("scroll", function () { if (gutter) gutter.scrollTop = body.scrollTop; });
  body.addEventListener("focus", function () { lastField = body; });
  if (subject) subject.addEventListener("focus", function () { lastField = subject; });
  if (syntax && syntax.tagName === "SELECT") syntax.addEventListener("change", refresh);
  Array.prototype.forEach.call(document.querySelectorAll(".field-button"), function (button) {
    // A <button>: Tab reaches it, Enter and Space press it, like a click.
    button.addEventListener("click", function () { insert(lastField, "((" + button.dataset.field + "))"); });
  });
  // Problems the server listed (after a refused save) jump to their line too.
  Array.prototype.forEach.call(document.querySelectorAll("#preview-problems li"), function (li) {
    var m = /dòng (\d+)/.exec(li.textContent);
    if (m) errorLines[Number(m[1])] = true;
  });
  drawGutter();
  if (subject) subject.addEventListener("input", later);
  dossier.addEventListener("change", function () {
    if (dossier.value) source.value = "dossier";
    refresh();
  });
  source.addEventListener("change", refresh);
})();
