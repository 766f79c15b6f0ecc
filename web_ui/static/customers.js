// The customers' import page: the chosen file goes to POST /api/v1/customers/import (a dry run first, if asked);
// the import takes the good rows and reports the others, which are listed by row and column in the user's
// language. Uses app.js's csrfToken, messageOf and error helpers.
"use strict";
// Deferred scripts run in order and this one comes before app.js: start once every one has run.
document.addEventListener("DOMContentLoaded", () => {
  const form = document.getElementById("customer-import");
  if (!form) return;
  const t = document.getElementById("import-i18n").dataset;
  const summary = document.getElementById("import-summary");
  const table = document.getElementById("import-errors");
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
      row.textContent = String(r.row);
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
      const response = await fetch(form.dataset.import + (dry ? "?dry_run=true" : ""), {
        method: "POST", body: data, credentials: "same-origin",
        headers: { "Accept": "application/json", "X-CSRF-Token": csrfToken() },
      });
      let body = null;
      try { body = await response.json(); } catch (e) { body = null; }
      if (response.ok) {
        summary.textContent = fill(dry ? t.checked : t.imported, body);
        showRows(body.errors || []);
        return;
      }
      summary.textContent = "";
      const fields = (body && body.details && body.details.fields) || [];
      showErrors(form, fields, fields.length ? "" : (messageOf(body || {}) || t.failed));
    } catch (e) {
      summary.textContent = "";
      top.textContent = t.failed;
    } finally {
      buttons.forEach(b => { b.disabled = false; });
    }
  });
});
