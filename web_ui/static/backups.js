// The backup pages: the run in progress (polled from /api/v1/backups/progress), the repository password shown
// once, a target form that shows only its kind's fields and fetches the server's host key to confirm, and the
// restore form (a preview first, then a confirmation). Forms and buttons otherwise go through app.js.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  const i18n = document.getElementById("backups-i18n");
  if (!i18n) return;
  const t = i18n.dataset;
  const fill = (s, v) => s.replace(/\{(\w+)\}/g, (m, k) => (k in v ? String(v[k]) : m));
  const lang = zh() ? "zh-CN" : "en";
  const mib = n => (Number(n || 0) / 1048576).toLocaleString(lang, { maximumFractionDigits: 1 }) + " MiB";

  // ---- the run in progress
  const status = document.getElementById("run-status");
  if (status) {
    const bar = document.getElementById("run-bar");
    const figures = document.getElementById("run-figures");
    let seen = !!status.dataset.running;
    // after "Back up now" or "Verify" the page comes back with ?started: follow the run even if it had not
    // begun when the page was drawn, and show the history once it ends
    const started = new URLSearchParams(window.location.search).has("started");
    let tries = 0;
    async function poll() {
      const result = await callApi("GET", "/api/v1/backups/progress");
      const running = result.ok && result.data && result.data.running;
      if (running) {
        seen = true;
        const p = running.progress || {};
        bar.hidden = false;
        bar.value = Math.round((p.percent_done || 0) * 1000) / 10;
        figures.textContent = fill(t.files, { done: p.files_done || 0, total: p.total_files || 0,
          bytes: mib(p.bytes_done), total_bytes: mib(p.total_bytes), left: Math.round(p.seconds_remaining || 0) });
        window.setTimeout(poll, 1000);
      } else if (seen || (started && tries >= 3)) {
        figures.textContent = t.finished;
        window.location.assign("/admin/backups");  // the history and the targets' last runs, fresh
      } else if (started) {
        tries += 1;
        window.setTimeout(poll, 1000);
      }
    }
    if (seen || started) poll();
  }

  // ---- the repository password, once
  const show = document.getElementById("show-password");
  if (show) {
    show.addEventListener("click", async () => {
      const result = await callApi("POST", "/api/v1/backups/password");
      const out = document.getElementById("password-value");
      out.textContent = result.ok ? result.data.password : (result.status === 410 ? t.shown : messageOf(result.data || {}) || t.failed);
      show.disabled = true;
    });
  }

  // ---- a target: only its kind's fields (the others disabled, so they are not sent), the host key
  const form = document.getElementById("target-form");
  if (form) {
    const kind = form.querySelector("#t-kind");
    const auth = form.querySelector("#t-auth");
    function sync() {
      for (const el of form.querySelectorAll("[data-kind]")) {
        const on = el.dataset.kind === kind.value && (!el.dataset.auth || el.dataset.auth === auth.value);
        el.hidden = !on;
        for (const control of el.querySelectorAll("input, select, textarea")) {
          if (!control.readOnly) control.disabled = !on;
        }
      }
    }
    kind.addEventListener("change", sync);
    auth.addEventListener("change", sync);
    sync();
    const keys = document.getElementById("hk-keys");
    const current = document.getElementById("hk-current");
    const hidden = document.getElementById("t-host_key");
    document.getElementById("hk-scan").addEventListener("click", async () => {
      clearErrors(form);
      keys.replaceChildren();
      current.textContent = t.scanning;
      const port = Number.parseInt(form.querySelector("#t-port").value, 10);
      const result = await callApi("POST", "/api/v1/backups/scan-host-key",
        { host: form.querySelector("#t-host").value.trim(), port: Number.isNaN(port) ? 22 : port });
      current.textContent = "";
      if (!result.ok) {
        const data = result.data || {};
        const fields = (data.details && data.details.fields) || [];
        showErrors(form, fields.length ? fields : [{ field: "host_key", message: messageOf(data) || t.failed, message_zh: messageOf(data) || t.failed }], "");
        return;
      }
      for (const key of result.data.items) {
        const li = document.createElement("li");
        const code = document.createElement("code");
        code.textContent = key.fingerprint;
        const type = document.createElement("span");
        type.textContent = " (" + key.key.split(" ")[0] + ") ";
        const trust = document.createElement("button");
        trust.type = "button";
        trust.className = "secondary";
        trust.textContent = t.trust;
        trust.dataset.key = key.key;
        trust.setAttribute("aria-label", fill(t.trustLabel, { fingerprint: key.fingerprint }));
        trust.addEventListener("click", () => {
          hidden.value = key.key;
          current.replaceChildren(document.createTextNode(t.chosen + " "), code.cloneNode(true));
          keys.replaceChildren();
        });
        li.append(code, type, trust);
        keys.append(li);
      }
      const first = keys.querySelector("button");
      if (first) first.focus();
    });
  }

  // ---- restore: preview, then confirm
  const restore = document.getElementById("restore-form");
  if (restore) {
    const out = document.getElementById("rs-result");
    const base = "/api/v1/backups/targets/" + encodeURIComponent(restore.dataset.target) + "/restore";
    function body(dryRun) {
      const choice = document.getElementById("rs-snapshot").selectedOptions[0];
      let parts = document.getElementById("rs-parts").value.split(",");
      const snapshots = {};
      if (choice && choice.value) { parts = [choice.dataset.part]; snapshots[choice.dataset.part] = choice.value; }
      return { parts: parts, snapshots: snapshots, dry_run: dryRun, live: document.getElementById("rs-where").value === "live" };
    }
    function line(text) { const p = document.createElement("p"); p.textContent = text; return p; }
    function report(data) {
      const lines = [];
      for (const [part, plan] of Object.entries(data.plan || {})) {
        lines.push(line(fill(t.plan, { part: part, new: plan.new.length, changed: plan.changed.length, unchanged: plan.unchanged.length })));
        if (plan.changed.length) {
          const ul = document.createElement("ul");
          for (const name of plan.changed.slice(0, 20)) { const li = document.createElement("li"); li.textContent = name; ul.append(li); }
          lines.push(ul);
        }
      }
      if (!data.dry_run) {
        lines.push(line(fill(t.restored, { dest: data.dest })));
        if (data.records_integrity) lines.push(line(fill(t.integrity, { result: data.records_integrity })));
        if (data.aside) lines.push(line(fill(t.aside, { aside: data.aside })));
        if (data.restart_required) {
          const what = data.restart_required.map(r => (zh() ? r.reason_zh : r.reason) || r.component);
          lines.push(line(what.length ? fill(t.restart, { what: what.join("; ") }) : t.noRestart));
        }
      }
      out.replaceChildren(...lines);
    }
    async function send(dryRun) {
      clearErrors(restore);
      out.replaceChildren(line(t.working));
      const buttons = restore.querySelectorAll("button");
      buttons.forEach(b => { b.disabled = true; });
      try {
        const result = await callApi("POST", base, body(dryRun));
        if (result.ok) { report(result.data); return; }
        out.replaceChildren();
        const data = result.data || {};
        if (!data.error_id && result.status >= 500) { out.replaceChildren(line(t.stillWorking)); return; }
        const fields = (data.details && data.details.fields) || [];
        showErrors(restore, fields, fields.length ? "" : (messageOf(data) || t.failed));
      } catch (e) {
        out.replaceChildren(line(t.stillWorking));  // no answer: the box may still be restoring
      } finally {
        buttons.forEach(b => { b.disabled = false; });
      }
    }
    document.getElementById("rs-preview").addEventListener("click", () => send(true));
    document.getElementById("rs-restore").addEventListener("click", () => {
      const dialog = document.getElementById("restore-confirm");
      document.getElementById("rc-text").textContent = body(false).live ? t.confirmLive : t.confirmBeside;
      dialog.returnValue = "";
      dialog.addEventListener("close", () => { if (dialog.returnValue === "ok") send(false); }, { once: true });
      dialog.showModal();
      document.getElementById("rc-ok").focus();
    });
  }
});
