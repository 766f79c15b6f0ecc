// Reports → Exports and scheduled reports: a background export (POST /api/v1/exports, its job read every
// second while it runs, then its file linked) and the scheduled reports (GET/PUT /api/v1/reports/schedules,
// run now, the files made). Plain DOM code, no inline script (the CSP forbids it).
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  const root = document.getElementById("exports");
  if (!root) return;
  const labels = JSON.parse(root.dataset.labels || "{}");
  const t = document.getElementById("exports-i18n").dataset;
  const zone = root.dataset.zone || "UTC";
  const canEdit = root.dataset.edit === "yes";
  const lang = zh() ? "zh-CN" : "en";
  const $ = (id) => document.getElementById(id);
  const fill = (s, values) => s.replace(/\{(\w+)\}/g, (_, k) => String(values[k]));

  function errorText(data, fallback) {
    if (!data) return fallback;
    const fields = ((data.details || {}).fields || []).map((e) => messageOf(e)).filter(Boolean);
    const head = messageOf(data) || fallback;
    return fields.length ? head + " " + fields.join("; ") : head;
  }

  // ---- background export ----
  // The call records take epoch seconds: a local time of the box's zone turned into one.
  function epochOf(local) {
    const [d, hm] = local.split("T");
    const [y, m, day] = d.split("-").map(Number);
    const [h, min] = (hm || "00:00").split(":").map(Number);
    const guess = Date.UTC(y, m - 1, day, h, min);
    const parts = new Intl.DateTimeFormat("en-US", { timeZone: zone, hourCycle: "h23", year: "numeric",
      month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit" }).formatToParts(guess);
    const p = Object.fromEntries(parts.map((x) => [x.type, Number(x.value)]));
    const offset = Date.UTC(p.year, p.month - 1, p.day, p.hour, p.minute, p.second) - guess;
    return Math.round((guess - offset) / 1000);
  }

  const source = $("ex-source");
  function showPeriod() {
    const detail = ["cdr", "queue-calls", "agent-state-log", "ivr-journeys"].includes(source.value);
    $("ex-period-field").hidden = detail;
  }
  source.addEventListener("change", showPeriod);
  showPeriod();

  let polling = 0;
  function showError(el, message) { el.textContent = message; el.hidden = !message; }

  function drawJob(job) {
    $("ex-job").hidden = false;
    $("ex-name").textContent = job.filename;
    const state = $("ex-state");
    state.dataset.state = job.state;
    state.textContent = (labels.states || {})[job.state] || job.state;
    const bar = $("ex-progress");
    if (job.progress === null || job.progress === undefined) bar.removeAttribute("value");
    else bar.value = job.progress;
    $("ex-rows").textContent = job.rows_total !== null && job.rows_total !== undefined
      ? fill(t.rows, { done: job.rows_done, total: job.rows_total })
      : fill(t.rowsUnknown, { done: job.rows_done });
    const link = $("ex-download");
    link.hidden = job.state !== "done";
    if (job.state === "done") { link.href = "/api/v1/exports/" + encodeURIComponent(job.id) + "/file"; link.download = job.filename; }
    if (job.state === "failed") showError($("ex-error"), t.failed + " " + (job.error || ""));
  }

  async function poll(id) {
    let job = null;
    try {
      const result = await callApi("GET", "/api/v1/exports/" + encodeURIComponent(id));
      if (result.ok && result.data) { job = result.data; drawJob(job); showError($("ex-error"), ""); }
      else showError($("ex-error"), errorText(result.data, t.failed));
    } catch (e) { showError($("ex-error"), t.lost); }
    if (job && (job.state === "done" || job.state === "failed")) { $("ex-start").disabled = false; polling = 0; return; }
    polling = window.setTimeout(() => poll(id), 1000);
  }

  $("ex-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const from = $("ex-from").value, to = $("ex-to").value;
    showError($("ex-error"), "");
    if (!from || !to || to <= from) { showError($("ex-error"), t.range); $("ex-from").focus(); return; }
    const params = source.value === "cdr"
      ? { since: epochOf(from), until: epochOf(to) }
      : Object.assign({ from: from, to: to }, $("ex-period-field").hidden ? {} : { period: $("ex-period").value });
    if (polling) { window.clearTimeout(polling); polling = 0; }
    $("ex-start").disabled = true;
    $("ex-download").hidden = true;
    try {
      const result = await callApi("POST", "/api/v1/exports", { source: source.value, format: $("ex-format").value, params: params });
      if (!result.ok || !result.data) { showError($("ex-error"), errorText(result.data, t.failed)); $("ex-start").disabled = false; return; }
      drawJob(result.data);
      poll(result.data.id);
    } catch (e) { showError($("ex-error"), t.lost); $("ex-start").disabled = false; }
  });

  // ---- scheduled reports ----
  if (root.dataset.schedules !== "yes") return;
  let schedules = [];  // as the API gave them (each keeps its queue/agent/group/flow filters)
  let saved = "";

  function select(name, options, value, label) {
    const s = document.createElement("select");
    s.name = name; s.setAttribute("aria-label", label); s.disabled = !canEdit;
    for (const [k, v] of Object.entries(options)) {
      const o = document.createElement("option"); o.value = k; o.textContent = v; o.selected = k === value; s.append(o);
    }
    return s;
  }
  function cell(tr, child) { const td = document.createElement("td"); td.append(child); tr.append(td); return td; }

  function drawSchedules() {
    const body = $("sc-table").querySelector("tbody");
    body.replaceChildren();
    schedules.forEach((s, i) => {
      const tr = document.createElement("tr");
      tr.dataset.index = String(i);
      const n = i + 1;
      const name = document.createElement("input");
      name.name = "name"; name.value = s.name || ""; name.required = true; name.maxLength = 40; name.disabled = !canEdit;
      name.setAttribute("aria-label", t.name + " " + n);
      cell(tr, name);
      cell(tr, select("kind", labels.kinds, s.kind, t.report + " " + n));
      cell(tr, select("every", labels.every, s.every, t.runs + " " + n));
      cell(tr, select("period", labels.periods, s.period, t.period + " " + n));
      cell(tr, select("format", labels.formats, s.format, t.format + " " + n));
      const at = document.createElement("input");
      at.type = "time"; at.name = "at"; at.value = s.at || "01:00"; at.disabled = !canEdit;
      at.setAttribute("aria-label", t.at + " " + n);
      cell(tr, at);
      cell(tr, document.createTextNode(s.next_run ? new Date(s.next_run).toLocaleString(lang, { timeZone: zone }) : ""));
      if (canEdit) {
        const run = document.createElement("button");
        run.type = "button"; run.className = "secondary"; run.textContent = t.run; run.dataset.run = s.name || "";
        run.setAttribute("aria-label", t.run + ": " + (s.name || n));
        run.addEventListener("click", () => runNow(s, run));
        const remove = document.createElement("button");
        remove.type = "button"; remove.className = "link"; remove.textContent = t.remove;
        remove.setAttribute("aria-label", t.remove + ": " + (s.name || n));
        remove.addEventListener("click", () => { schedules = collect(); schedules.splice(i, 1); drawSchedules(); });
        const td = cell(tr, run); td.append(" ", remove);
      }
      body.append(tr);
    });
    $("sc-empty").hidden = schedules.length > 0;
  }

  function collect() {
    return [...$("sc-table").querySelectorAll("tbody tr")].map((tr) => {
      const item = Object.assign({}, schedules[Number(tr.dataset.index)]);
      delete item.next_run;
      for (const el of tr.querySelectorAll("input, select")) item[el.name] = el.value;
      return item;
    });
  }

  async function loadSchedules() {
    const result = await callApi("GET", "/api/v1/reports/schedules");
    if (result.ok && result.data) {
      schedules = result.data.items;
      saved = JSON.stringify(schedules.map((s) => { const c = Object.assign({}, s); delete c.next_run; return c; }));
      drawSchedules();
    } else showError($("sc-error"), errorText(result.data, ""));
  }

  async function runNow(schedule, button) {
    showError($("sc-error"), "");
    const current = JSON.stringify(collect());
    if (current !== saved) { showError($("sc-error"), t.unsaved); return; }
    button.disabled = true;
    $("sc-status").textContent = t.running;
    try {
      const result = await callApi("POST", "/api/v1/reports/schedules/" + encodeURIComponent(schedule.name) + "/run");
      if (result.ok && result.data) { $("sc-status").textContent = fill(t.ran, { file: result.data.file }); await loadFiles(); }
      else { $("sc-status").textContent = ""; showError($("sc-error"), errorText(result.data, t.failed)); }
    } catch (e) { $("sc-status").textContent = ""; showError($("sc-error"), t.lost); }
    button.disabled = false;
  }

  function size(bytes) {
    return bytes < 1024 ? bytes + " B" : bytes < 1048576 ? (bytes / 1024).toFixed(1) + " KB" : (bytes / 1048576).toFixed(1) + " MB";
  }

  async function loadFiles() {
    const result = await callApi("GET", "/api/v1/reports/files");
    if (!result.ok || !result.data) return;
    const body = $("sc-files").querySelector("tbody");
    body.replaceChildren();
    for (const f of result.data.items) {
      const tr = document.createElement("tr");
      cell(tr, document.createTextNode(new Date(f.made * 1000).toLocaleString(lang, { timeZone: zone })));
      cell(tr, document.createTextNode(f.schedule));
      const a = document.createElement("a");
      a.href = "/api/v1/reports/files/" + encodeURIComponent(f.schedule) + "/" + encodeURIComponent(f.file);
      a.download = f.file; a.textContent = f.file; a.className = "file-link";
      cell(tr, a);
      cell(tr, document.createTextNode(size(f.size)));
      body.append(tr);
    }
    $("files-empty").hidden = result.data.items.length > 0;
  }

  if (canEdit) {
    $("sc-add").addEventListener("click", () => {
      schedules = collect();
      schedules.push({ name: "", kind: "agent-calls", every: "daily", period: "hour", format: "xlsx", at: "01:00" });
      drawSchedules();
      $("sc-table").querySelector("tbody tr:last-child input[name=name]").focus();
    });
    $("sc-form").addEventListener("submit", async (event) => {
      event.preventDefault();
      showError($("sc-error"), "");
      $("sc-status").textContent = "";
      const items = collect();
      $("sc-save").disabled = true;
      try {
        const result = await callApi("PUT", "/api/v1/reports/schedules", { items: items });
        if (result.ok) { await loadSchedules(); $("sc-status").textContent = t.saved; }
        else showError($("sc-error"), errorText(result.data, t.failed));
      } catch (e) { showError($("sc-error"), t.lost); }
      $("sc-save").disabled = false;
    });
  }
  loadSchedules();
  loadFiles();
});
