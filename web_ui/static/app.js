// The console's own behaviour: forms saved through the REST API with field errors shown in place,
// confirmations, and small Alpine components. No inline script anywhere (the CSP forbids it).
"use strict";
document.documentElement.classList.add("js");

function csrfToken() {
  try { return JSON.parse(document.body.getAttribute("hx-headers") || "{}")["X-CSRF-Token"] || ""; }
  catch (e) { return ""; }
}
function zh() { return document.body.dataset.lang === "zh_CN"; }
function text(key) { const t = document.getElementById("i18n"); return t ? t.dataset[key] || "" : ""; }
function messageOf(obj) { return (zh() ? obj.message_zh : obj.message) || obj.message || ""; }

async function callApi(method, url, body) {
  const headers = { "Accept": "application/json", "X-CSRF-Token": csrfToken() };
  const init = { method: method, headers: headers, credentials: "same-origin" };
  if (body !== undefined) { headers["Content-Type"] = "application/json"; init.body = JSON.stringify(body); }
  const response = await fetch(url, init);
  let data = null;
  if (response.status !== 204) { try { data = await response.json(); } catch (e) { data = null; } }
  return { ok: response.ok, status: response.status, data: data };
}

// The live pages' event stream (/api/v1/events): one WebSocket, opened again after a loss with a back-off of
// 0.5 s doubling to 10 s. `on.open(connects)` runs on each (re)connect — where a page reads its snapshot —,
// `on.event(e)` for each event, `on.dropped()` when the server says events were lost (read the snapshot
// again; by default `on.open` runs again), `on.down()` when the socket is lost (a page says it is live once
// its snapshot is drawn). A closed session (4401) goes to the sign-in page and comes back. `restart()` drops the socket so the usual reconnect starts from a fresh snapshot.
function openEventStream(topics, on) {
  let socket = null, retries = 0, connects = 0;
  function connect() {
    const scheme = window.location.protocol === "https:" ? "wss:" : "ws:";
    // batch=1: the events that came together arrive as one frame (an array), however busy the floor
    const ws = new WebSocket(scheme + "//" + window.location.host + "/api/v1/events?batch=1&topics=" + topics);
    socket = ws;
    ws.onopen = () => { retries = 0; connects += 1; on.open(connects); };
    ws.onmessage = message => {
      let frame;
      try { frame = JSON.parse(message.data); } catch (e) { return; }
      if (Array.isArray(frame)) { for (const event of frame) on.event(event); return; }
      if (frame.topic === "stream.dropped") { if (on.dropped) on.dropped(); else on.open(connects); return; }
      on.event(frame);
    };
    ws.onclose = closed => {
      if (socket !== ws) return;
      socket = null;
      if (on.down) on.down();
      if (closed.code === 4401) {
        window.location.assign("/login?next=" + encodeURIComponent(window.location.pathname + window.location.search));
        return;
      }
      const delay = Math.min(10000, 500 * 2 ** retries);
      retries += 1;
      window.setTimeout(connect, delay);
    };
  }
  connect();
  return {
    restart() { if (socket) socket.close(); },
    get live() { return socket !== null && socket.readyState === WebSocket.OPEN; },
  };
}

function setPath(target, path, value) {
  const parts = path.split(".");
  let node = target;
  for (let i = 0; i < parts.length - 1; i++) { node = node[parts[i]] = node[parts[i]] || {}; }
  node[parts[parts.length - 1]] = value;
}

// One control's value as the API wants it (by its data-type); undefined: leave the key out.
function valueOf(el, path, errors) {
  const type = el.dataset.type || "string";
  const nullable = el.hasAttribute("data-nullable");
  if (type === "boolean") return el.checked;
  if (type === "list") {
    return el.multiple ? Array.from(el.selectedOptions).map(o => o.value)
      : el.value.split(/\n|,/).map(s => s.trim()).filter(s => s.length > 0);
  }
  if (type === "json") {
    try { return el.value.trim() ? JSON.parse(el.value) : []; }
    catch (e) { errors.push({ field: path, message: "not valid JSON: " + e.message, message_zh: "不是有效的 JSON:" + e.message }); return undefined; }
  }
  if (type === "integer" || type === "number") {
    if (el.value.trim() === "") return nullable ? null : undefined;
    return type === "integer" ? Number.parseInt(el.value, 10) : Number.parseFloat(el.value);
  }
  if (el.value === "" && el.hasAttribute("data-optional-secret")) return undefined;
  if (el.value === "" && nullable) return null;
  return el.value;
}

// Reads the form into the API's JSON; returns [body, localErrors]. A row list ([data-rows="key"]) becomes a
// list of objects, one per row, each control naming its key with data-key.
function collect(form) {
  const body = {}; const errors = [];
  for (const el of form.querySelectorAll("[name]")) {
    if (el.disabled || el.hasAttribute("data-local") || el.type === "submit") continue;
    const value = valueOf(el, el.name, errors);
    if (value !== undefined) setPath(body, el.name, value);
  }
  for (const list of form.querySelectorAll("[data-rows]")) {
    const rows = [];
    list.querySelectorAll("tbody > tr").forEach((row, i) => {
      const item = {};
      for (const el of row.querySelectorAll("[data-key]")) {
        const value = valueOf(el, list.dataset.rows + "." + i + "." + el.dataset.key, errors);
        if (value !== undefined) item[el.dataset.key] = value;
      }
      rows.push(item);
    });
    setPath(body, list.dataset.rows, rows);
  }
  for (const el of form.querySelectorAll("[data-same-as]")) {
    const other = document.getElementById(el.dataset.sameAs);
    if (other && other.value !== el.value) errors.push({ field: el.name, message: el.dataset.mismatch, message_zh: el.dataset.mismatch });
  }
  return [body, errors];
}

function clearErrors(form) {
  for (const el of form.querySelectorAll(".error")) el.textContent = "";
  for (const el of form.querySelectorAll("[aria-invalid]")) el.removeAttribute("aria-invalid");
  const top = form.querySelector(".form-error"); if (top) top.textContent = "";
}

// Puts each field error beside its control: "skills.0.level" falls back to "skills" when only that is drawn.
function showErrors(form, fields, fallback) {
  const top = form.querySelector(".form-error");
  const unplaced = [];
  let first = null;
  for (const f of fields) {
    let path = f.field || ""; let box = null;
    while (path) {
      box = form.querySelector('[data-field="' + CSS.escape(path) + '"]');
      if (box) break;
      path = path.includes(".") ? path.slice(0, path.lastIndexOf(".")) : "";
    }
    if (!box) { unplaced.push(messageOf(f)); continue; }
    // Beside its control the field's name is already shown: "ring_timeout_s: 5 to 300" becomes "5 to 300".
    let message = messageOf(f);
    if (f.field && message.startsWith(f.field + ":")) message = message.slice(f.field.length + 1).trim();
    const slot = box.querySelector(":scope > .error");
    if (slot) slot.textContent = slot.textContent ? slot.textContent + " " + message : message;
    const control = box.querySelector("input, select, textarea");
    if (control) { control.setAttribute("aria-invalid", "true"); first = first || control; }
  }
  if (top && (unplaced.length || fallback)) top.textContent = [fallback].concat(unplaced).filter(Boolean).join(" ");
  if (first) first.focus(); else if (top) top.focus();
}

async function submitApiForm(event) {
  const form = event.target.closest("form[data-api]");
  if (!form) return;
  event.preventDefault();
  clearErrors(form);
  const [body, local] = collect(form);
  if (local.length) { showErrors(form, local, ""); return; }
  const button = form.querySelector("button[type=submit]");
  if (button) button.disabled = true;
  try {
    // data-api-name: the address ends with one of the form's own values (a new item's name is its key)
    const url = form.dataset.apiName ? form.dataset.api + encodeURIComponent(body[form.dataset.apiName] || "") : form.dataset.api;
    const result = await callApi(form.dataset.method || "POST", url, body);
    if (result.ok) {
      const saved = form.querySelector(".saved");
      if (saved) { saved.textContent = text("saved"); return; }
      window.location.assign(form.dataset.next || window.location.pathname);
      return;
    }
    const data = result.data || {};
    const fields = (data.details && data.details.fields) || [];
    showErrors(form, fields, fields.length ? "" : (messageOf(data) || text("failed")));
  } catch (e) {
    showErrors(form, [], text("failed"));
  } finally {
    if (button) button.disabled = false;
  }
}

function confirmDialog(message) {
  const dialog = document.getElementById("confirm");
  if (!dialog || !dialog.showModal) return Promise.resolve(window.confirm(message));
  document.getElementById("confirm-text").textContent = message;
  dialog.returnValue = "";
  dialog.showModal();
  document.getElementById("confirm-ok").focus();
  return new Promise(resolve => dialog.addEventListener("close", () => resolve(dialog.returnValue === "ok"), { once: true }));
}

async function actionButton(button, method, url) {
  const slot = document.getElementById("action-error");
  if (slot) slot.textContent = "";
  const result = await callApi(method, url, method === "DELETE" ? undefined : {});
  if (result.ok) { window.location.assign(button.dataset.next || "/"); return; }
  if (slot) { slot.textContent = messageOf(result.data || {}) || text("failed"); slot.focus(); }
}

// Row lists: each cell's error slot is named by the row's place ("users.1.auth_key"), so an error from the
// API lands beside its control; the places are counted again whenever a row comes or goes.
function numberRows(list) {
  list.querySelectorAll("tbody > tr").forEach((row, i) => {
    for (const cell of row.querySelectorAll("[data-cell]")) cell.dataset.field = list.dataset.rows + "." + i + "." + cell.dataset.cell;
  });
}
function addRow(button) {
  const list = button.closest("[data-rows]");
  const template = list.querySelector("template");
  list.querySelector("tbody").appendChild(template.content.cloneNode(true));
  numberRows(list);
  const rows = list.querySelectorAll("tbody > tr");
  const first = rows[rows.length - 1].querySelector("input, select");
  if (first) first.focus();
}
function removeRow(button) {
  const list = button.closest("[data-rows]");
  button.closest("tr").remove();
  numberRows(list);
  list.querySelector("[data-add-row]").focus();
}
document.querySelectorAll("[data-rows]").forEach(numberRows);

document.addEventListener("submit", submitApiForm);
document.addEventListener("click", async event => {
  const add = event.target.closest("[data-add-row]");
  if (add) { addRow(add); return; }
  const remove = event.target.closest("[data-remove-row]");
  if (remove) { removeRow(remove); return; }
  const del = event.target.closest("[data-delete]");
  if (del) {
    const ok = await confirmDialog(text("confirmDelete").replace("{name}", del.dataset.name || ""));
    if (ok) await actionButton(del, "DELETE", del.dataset.delete);
    return;
  }
  const post = event.target.closest("[data-post]");
  if (post) await actionButton(post, "POST", post.dataset.post);
});
document.addEventListener("change", event => {
  // requestSubmit, not submit: the submit event must fire so a signed-in user's choice goes to the API
  if (event.target.matches("select[data-autosubmit]")) event.target.form.requestSubmit();
});

// Alpine's CSP build evaluates no expressions from the page: components are registered here by name.
document.addEventListener("alpine:init", () => {
  window.Alpine.data("navToggle", () => ({
    open: false,
    toggle() { this.open = !this.open; },
    get openText() { return this.open ? "true" : "false"; },
    get listClass() { return this.open ? "" : "nav-closed"; },
  }));
});
