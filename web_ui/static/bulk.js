// The import pages (a configuration kind's bulk import, and the customers' import): the chosen file goes to
// the form's import route (a dry run first, if asked), and the rows refused are listed by row and column in
// the user's language — all of them when a bulk import refuses the file, those left out when the customers'
// import takes the rest. Uses app.js's csrfToken, messageOf and error helpers.
"use strict";
// Deferred scripts run in order and this one comes before app.js: start once every one has run.
document.addEventListener("DOMContentLoaded", () => {
  const form = document.getElementById("bulk-form");
  if (!form) return;
  const t = document.getElementById("bulk-i18n").dataset;
  const summary = document.getElementById("bulk-summary");
  const done = document.getElementById("bulk-done");  // a "back to the list" link (bulk imports only)
  const table = document.getElementById("bulk-errors");
  const top = form.querySelector(".form-error");

  function fill(template, values) {
    return template.replace(/\{(\w+)\}/g, (m, k) => (values && k in values ? String(values[k]) : m));
  }

  function showRows(rows) {
    const body = table.querySelector("tbody");
    body.replaceChildren();
    for (const r of rows) {
      const tr = document.createElement("tr");
      const row = document.createElement("th");
      row.scope = "row";
      row.textContent = r.row > 0 ? String(r.row) : "—";
      const field = document.createElement("td");
      field.textContent = r.field || "";
      const message = document.createElement("td");
      message.textContent = messageOf(r);
      tr.append(row, field, message);
      body.append(tr);
    }
    table.hidden = rows.length === 0;
  }

  form.addEventListener("submit", async event => {
    event.preventDefault();
    clearErrors(form);
    summary.textContent = "";
    if (done) done.hidden = true;
    showRows([]);
    const input = form.querySelector("input[type=file]");
    const file = input.files && input.files[0];
    if (!file) { showErrors(form, [{ field: "file", message: t.choose, message_zh: t.choose }], ""); return; }
    const dry = !!(event.submitter && event.submitter.value === "check");
    const data = new FormData();
    data.append("file", file, file.name);
    const buttons = form.querySelectorAll("button");
    buttons.forEach(b => { b.disabled = true; });
    summary.textContent = t.working;
    try {
      const response = await fetch(form.dataset.bulkImport + (dry ? "?dry_run=true" : ""), {
        method: "POST", body: data, credentials: "same-origin",
        headers: { "Accept": "application/json", "X-CSRF-Token": csrfToken() },
      });
      let body = null;
      try { body = await response.json(); } catch (e) { body = null; }
      if (response.ok) {
        summary.textContent = fill(dry ? t.checked : t.imported, body);
        showRows(body.errors || []);  // rows an import left out while taking the others
        if (done) done.hidden = dry;
        return;
      }
      summary.textContent = "";
      const fields = (body && body.details && body.details.fields) || [];
      if (fields.length) { showErrors(form, fields, ""); return; }  // the file itself (e.g. unreadable)
      top.textContent = messageOf(body || {}) || t.failed;
      showRows((body && body.details && body.details.rows) || []);
      top.focus();
    } catch (e) {
      summary.textContent = "";
      top.textContent = t.failed;
    } finally {
      buttons.forEach(b => { b.disabled = false; });
    }
  });
});
