// System → Firmware: the chosen bundle is the request body of POST /api/v1/firmware/install (streamed by the
// browser, with the CSRF header); RAUC's progress is then polled from GET /api/v1/firmware/install until the
// installation ends. Reboot asks first. The factory reset form is app.js's (data-api).
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  const form = document.getElementById("firmware-upload");
  if (!form) return;
  const t = form.dataset;
  const bar = document.getElementById("install-bar");
  const step = document.getElementById("install-step");
  const result = document.getElementById("install-result");
  const label = document.querySelector("label[for=install-bar]");
  const button = form.querySelector("button[type=submit]");
  const fill = (s, v) => s.replace(/\{(\w+)\}/g, (m, k) => (k in v ? String(v[k]) : m));

  function show(p) {
    bar.value = p.percent;
    bar.textContent = p.percent + " %";
    step.textContent = p.step || "";
    form.dataset.state = p.state;
    if (p.state === "succeeded") {
      result.className = "status status-ok";
      result.textContent = fill(t.i18nInstalled, { version: p.version, slot: p.slot });
    } else if (p.state === "failed") {
      result.className = "error";
      result.textContent = t.i18nFailed + ": " + p.error;
    } else {
      result.className = "";
      result.textContent = "";
    }
    if (label && t["i18nState" + p.state]) label.textContent = t["i18nState" + p.state];
  }

  async function follow() {
    button.disabled = true;
    try {
      for (;;) {
        const r = await callApi("GET", "/api/v1/firmware/install");
        if (!r.ok) break;
        show(r.data);
        if (r.data.state !== "running") break;
        await new Promise(resolve => setTimeout(resolve, 700));
      }
    } finally {
      button.disabled = false;
    }
  }

  form.addEventListener("submit", async event => {
    event.preventDefault();
    clearErrors(form);
    const input = document.getElementById("f-bundle");
    const file = input.files && input.files[0];
    if (!file) { showErrors(form, [{ field: "bundle", message: t.i18nChoose, message_zh: t.i18nChoose }], ""); return; }
    button.disabled = true;
    step.textContent = t.i18nUploading;
    bar.removeAttribute("value");  // indeterminate while the file travels
    try {
      const response = await fetch("/api/v1/firmware/install", {
        method: "POST", credentials: "same-origin", body: file,
        headers: { "Accept": "application/json", "Content-Type": "application/octet-stream", "X-CSRF-Token": csrfToken() },
      });
      let data = {};
      try { data = await response.json(); } catch (e) { data = {}; }
      if (!response.ok) {
        bar.value = 0;
        step.textContent = "";
        const fields = (data.details && data.details.fields) || [];
        showErrors(form, fields, fields.length ? "" : (messageOf(data) || text("failed")));
        button.disabled = false;
        return;
      }
      show(data);
      await follow();
    } catch (e) {
      showErrors(form, [], text("failed"));
      button.disabled = false;
    }
  });

  const reboot = document.getElementById("firmware-reboot");
  if (reboot) reboot.addEventListener("click", async () => {
    // The shared dialog's button says "Delete"; here it says what happens.
    const ok = document.getElementById("confirm-ok");
    const label = ok ? ok.textContent : "";
    if (ok) ok.textContent = t.i18nRebootOk;
    const yes = await confirmDialog(t.i18nReboot);
    if (ok) ok.textContent = label;
    if (!yes) return;
    await actionButton(reboot, "POST", "/api/v1/firmware/reboot");
  });

  if (form.dataset.state === "running") follow();
});
