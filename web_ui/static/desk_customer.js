// The agent desk's customer panel (/desk): the screen pop (the customer a ringing call is about, found by the
// caller's number or passed on with the call's notes), the box's and the external CRM's record of them, their
// service records and previous calls, and the forms that add or change a customer and save a service record.
// `desk.js` makes one panel and hands it what it shares: the page's helpers, the call on the desk, the notes'
// saving and click-to-dial.
"use strict";

window.deskCustomerPanel = function (d) {
  const { root, me, t, labels, $, el, set, show, api, failure, error, dateTime, duration } = d;
  let customer = null;  // the popped customer (null: none, or the caller is unknown)
  let popSeq = 0;

  // ---------------------------------------------------------------- screen pop

  // The customer of a ringing call: the one the notes name when another agent passed the call on (with their
  // notes), else the one the caller's number finds; an unknown number opens the new-customer form.
  async function pop(callId, number) {
    const seq = ++popSeq;
    customer = null;
    $("dk-notes").value = "";
    set($("dk-notes-state"), "");
    show($("dk-intended-done"), false);
    const record = $("dk-rec-form");
    record.reset();
    clearErrors(record);
    set(record.querySelector(".saved"), "");
    // both at once: the ring must pop within a second, whatever else the box is doing
    const [noted, looked] = await Promise.all([
      api("GET", "/api/v1/calls/" + encodeURIComponent(callId) + "/notes"),
      number ? api("GET", "/api/v1/customers/lookup?number=" + encodeURIComponent(number)) : Promise.resolve(null)]);
    if (seq !== popSeq) return;
    let found = null;
    const passedOn = noted.ok && noted.data ? noted.data.customer_id : "";
    if (noted.ok && noted.data) {
      $("dk-notes").value = noted.data.notes || "";
      const from = (noted.data.writers || []).filter(w => w !== me);
      if (from.length) set($("dk-notes-state"), t.passedOn.replace("{agent}", from.map(a => labels.agents[a] || a).join(", ")));
    }
    if (passedOn) {  // the customer the agents before chose, even when the number finds another (or none)
      const byId = await api("GET", "/api/v1/customers/" + encodeURIComponent(passedOn));
      if (seq !== popSeq) return;
      if (byId.ok && byId.data) found = byId.data;
    }
    if (looked && looked.ok && !found) found = customerOf(looked.data);
    if (looked && !looked.ok && looked.status !== 404) error(t.noCustomersApi.replace("{reason}", failure(looked)));
    if (found) showCustomer(found);
    else newCustomer(number);
    showExternal(looked && looked.ok ? looked.data.external : null, looked && looked.ok ? looked.data.external_error : "");
    if (found && !passedOn) d.saveNotes({ customer_id: String(found.id) });
  }


  // What the customer's own CRM said about the caller (when one is configured), beside the box's record.
  function showExternal(ext, failed) {
    show($("dk-crm"), !!ext);
    show($("dk-crm-error"), !!failed);
    set($("dk-crm-error"), failed ? t.crmError.replace("{reason}", failed) : "");
    if (!ext) return;
    show($("dk-cust-none"), false);
    show($("dk-crm-vip"), !!ext.vip);
    show($("dk-crm-black"), !!ext.blacklisted);
    const facts = $("dk-crm-facts");
    facts.replaceChildren();
    const rows = [[t.crmName, ext.name], [t.crmArea, ext.area], [labels.account_manager, ext.account_manager && (labels.agents[ext.account_manager] || ext.account_manager)],
                  [t.crmNote, ext.note], ...Object.entries(ext.fields || {})];
    for (const [label, value] of rows) if (value !== undefined && value !== null && value !== "") facts.append(el("dt", "", label), el("dd", "", value));
    const link = $("dk-crm-link");
    const url = typeof ext.url === "string" && /^https?:\/\//.test(ext.url) ? ext.url : "";
    show(link, !!url);
    link.href = url || "#";
  }

  function customerOf(data) {
    if (!data) return null;
    if (data.customer !== undefined) return data.customer;
    if (Array.isArray(data.items)) return data.items[0] || null;
    return data.id !== undefined ? data : null;
  }

  function showCustomer(c) {
    customer = c;
    show($("dk-cust-none"), false);
    show($("dk-cust-new"), false);
    show($("dk-cust-found"), true);
    show($("dk-record"), true);
    show($("dk-history"), true);
    root.dataset.customer = String(c.id);
    set($("dk-cust-title"), t.popped.replace("{name}", c.name));
    show($("dk-vip"), !!c.vip);
    show($("dk-black"), !!c.blacklisted);
    const form = $("dk-cust-form");
    clearErrors(form);
    set(form.querySelector(".saved"), "");
    $("dk-c-name").value = c.name || "";
    $("dk-c-area").value = c.area || "";
    $("dk-c-numbers").value = (c.numbers || []).join("\n");
    $("dk-c-note").value = c.note || "";
    $("dk-c-vip").checked = !!c.vip;
    $("dk-c-black").checked = !!c.blacklisted;
    const facts = $("dk-c-fields");
    facts.replaceChildren();
    for (const [name, value] of Object.entries(c.fields || {})) {
      const def = fieldLabels.get(name);
      facts.append(el("dt", "", def ? (zh() ? def.label_zh : def.label) || name : name), el("dd", "", value));
    }
    if (c.account_manager) facts.append(el("dt", "", labels.account_manager), el("dd", "", labels.agents[c.account_manager] || c.account_manager));
    $("dk-c-dial").replaceChildren(...(c.numbers || []).map(n => {
      const b = el("button", "secondary", t.dial.replace("{number}", n));
      b.type = "button";
      b.dataset.number = n;
      b.addEventListener("click", () => d.dial(n, b));
      return b;
    }));
    loadRecords();
    loadCalls();
  }

  function newCustomer(number) {
    customer = null;
    delete root.dataset.customer;
    show($("dk-cust-none"), false);
    show($("dk-cust-found"), false);
    show($("dk-cust-new"), true);
    show($("dk-record"), false);
    show($("dk-history"), false);
    set($("dk-cust-title"), t.unknown.replace("{number}", number || ""));
    const form = $("dk-new-form");
    form.reset();
    clearErrors(form);
    $("dk-n-numbers").value = number || "";
  }

  // The custom fields' labels (自定义客户字段), read once: a customer's fields are shown by them.
  const fieldLabels = new Map();
  api("GET", "/api/v1/customer-fields").then(result => {
    const items = result.ok && result.data ? (result.data.items || []) : [];
    for (const d of items) fieldLabels.set(d.name, d);
  });

  async function loadRecords() {
    const c = customer;
    const result = await api("GET", "/api/v1/customers/" + encodeURIComponent(c.id) + "/service-records?limit=20");
    if (customer !== c) return;
    const items = result.ok && result.data ? (result.data.items || []) : [];
    const body = $("dk-records").querySelector("tbody");
    if (!items.length) { body.replaceChildren(emptyRow(6)); return; }
    body.replaceChildren(...items.map(r => {
      const row = el("tr");
      row.dataset.record = String(r.id);
      if (r.call_id) row.dataset.call = r.call_id;
      row.append(el("td", "", dateTime.format(new Date(r.created * 1000))), el("td", "", labels.types[r.type] || r.type),
                 el("td", "dk-content", r.content), el("td", "", labels.results[r.result] || r.result),
                 el("td", "", r.follow_up || ""), el("td", "", r.agent ? (labels.agents[r.agent] || r.agent) : r.by));
      return row;
    }));
  }

  function emptyRow(span) {
    const row = el("tr");
    const cell = el("td", "empty", t.none);
    cell.colSpan = span;
    row.append(cell);
    return row;
  }

  // The customer's previous calls, by each of their numbers (agents see the calls they took).
  async function loadCalls() {
    const c = customer;
    const numbers = (c.numbers || []).slice(0, 5);
    const seen = new Map();
    for (const n of numbers) {
      const result = await api("GET", "/api/v1/cdr?limit=10&caller=" + encodeURIComponent(n));
      if (result.ok && result.data) for (const cdr of result.data.items) seen.set(cdr.call_id, cdr);
    }
    if (customer !== c) return;
    const current = d.call() ? d.call().id : "";
    const items = Array.from(seen.values()).filter(x => x.call_id !== current).sort((a, b) => b.started - a.started).slice(0, 10);
    const body = $("dk-calls").querySelector("tbody");
    if (!items.length) { body.replaceChildren(emptyRow(6)); return; }
    body.replaceChildren(...items.map(cdr => {
      const row = el("tr");
      row.dataset.call = cdr.call_id;
      const play = el("td");
      if (cdr.recording) {
        const b = el("button", "secondary", t.play);
        b.type = "button";
        b.addEventListener("click", () => {
          const audio = el("audio");
          audio.controls = true;
          audio.src = "/api/v1/recordings/" + encodeURIComponent(cdr.call_id);
          audio.setAttribute("aria-label", t.play);
          play.replaceChildren(audio);
          audio.play().catch(() => {});
          audio.focus();
        });
        play.append(b);
      } else {
        play.textContent = t.noRecording;
      }
      row.append(el("td", "", dateTime.format(new Date(cdr.started * 1000))),
                 el("td", "", cdr.queue ? (labels.queues[cdr.queue] || cdr.queue) : "—"),
                 el("td", "", cdr.agent ? (labels.agents[cdr.agent] || cdr.agent) : "—"),
                 el("td", "", cdr.talk === null || cdr.talk === undefined ? "—" : duration(cdr.talk)),
                 el("td", "", (cdr.ivr_path || []).join(" → ") + (cdr.ivr_keys ? " (" + cdr.ivr_keys + ")" : "")), play);
      return row;
    }));
  }

  // ---------------------------------------------------------------- customer forms

  function numbersOf(text) { return text.split(/\n|,/).map(s => s.trim()).filter(Boolean); }

  async function submitForm(form, method, url, body, done) {
    clearErrors(form);
    const button = form.querySelector("button[type=submit]");
    if (button) button.disabled = true;
    const result = await api(method, url, body);
    if (button) button.disabled = false;
    if (!result.ok) {
      const fields = (result.data && result.data.details && result.data.details.fields) || [];
      showErrors(form, fields, fields.length ? "" : failure(result));
      return;
    }
    done(result.data);
  }

  $("dk-new-form").addEventListener("submit", event => {
    event.preventDefault();
    const body = { name: $("dk-n-name").value.trim(), numbers: numbersOf($("dk-n-numbers").value),
                   area: $("dk-n-area").value.trim(), note: $("dk-n-note").value };
    submitForm(event.target, "POST", "/api/v1/customers", body, data => {
      showCustomer(customerOf(data));
      set($("dk-cust-form").querySelector(".saved"), t.customerAdded);
      if (d.lastCall()) d.saveNotes({ customer_id: String(customer.id) });
    });
  });

  $("dk-cust-form").addEventListener("submit", event => {
    event.preventDefault();
    if (!customer) return;
    const body = { name: $("dk-c-name").value.trim(), numbers: numbersOf($("dk-c-numbers").value),
                   area: $("dk-c-area").value.trim(), note: $("dk-c-note").value,
                   vip: $("dk-c-vip").checked, blacklisted: $("dk-c-black").checked };
    submitForm(event.target, "PATCH", "/api/v1/customers/" + encodeURIComponent(customer.id), body, data => {
      const saved = customerOf(data) || Object.assign({}, customer, body);
      showCustomer(saved);
      set($("dk-cust-form").querySelector(".saved"), t.saved);
    });
  });

  $("dk-rec-form").addEventListener("submit", event => {
    event.preventDefault();
    if (!customer) return;
    const body = { type: $("dk-r-type").value, result: $("dk-r-result").value, content: $("dk-r-content").value,
                   follow_up: $("dk-r-follow").value || null, agent: me };
    if (d.lastCall()) body.call_id = d.lastCall().id;
    const form = event.target;
    submitForm(form, "POST", "/api/v1/customers/" + encodeURIComponent(customer.id) + "/service-records", body, () => {
      $("dk-r-content").value = "";
      $("dk-r-follow").value = "";
      set(form.querySelector(".saved"), t.recordSaved);
      loadRecords();
    });
  });

  return { pop, emptyRow, submitForm, current: () => customer };
};
