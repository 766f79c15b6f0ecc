// The agent desk (/desk): the agent's state, the call on their phone and the customer it is about, kept live
// over the event stream (/api/v1/events) with no polling. Each time the stream opens (first, and after any
// reconnect or a `stream.dropped`) the agent's state and call are read again from the API, so a dropped
// WebSocket never leaves a stale desk. When the phone rings (`calls.ringing` naming this agent) the customer
// is found by the caller's number (customers API), or read from the notes the call carries when another
// agent passed it on; the notes typed here are saved with the call as the agent types.
"use strict";

document.addEventListener("alpine:init", () => {
  window.Alpine.data("deskHelp", () => ({
    open: false,
    toggle() { this.open = !this.open; },
    get openText() { return this.open ? "true" : "false"; },
  }));
});

document.addEventListener("DOMContentLoaded", () => {
  const root = document.getElementById("desk");
  if (!root) return;
  const me = root.dataset.agent;
  const labels = JSON.parse(root.dataset.labels || "{}");
  const t = document.getElementById("desk-i18n").dataset;
  const lang = zh() ? "zh-CN" : "en";
  const dateTime = new Intl.DateTimeFormat(lang, { dateStyle: "short", timeStyle: "short" });
  const clock = new Intl.DateTimeFormat(lang, { hour: "2-digit", minute: "2-digit", second: "2-digit" });
  const TOPICS = "acd.agent_state_changed,calls.*";
  const MONITOR_KEY = "desk-monitor-" + me;
  const $ = id => document.getElementById(id);

  let agent = { state: "logged_out", reason: "", since: null, extension: null, call: null };
  let call = null;  // the call on this desk: id, caller, queue, phase, on_hold, ivr_path, ivr_keys, started
  let lastCall = null;  // the call a service record is saved with (stays through wrap-up)
  let consulting = false;
  let stream = null;
  let syncing = 0;
  let skew = 0;  // server clock - local clock, from the events' `at`
  let notesTimer = 0;

  // ---------------------------------------------------------------- small helpers

  function el(tag, cls, text) {
    const node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }
  function set(node, text) { if (node && node.textContent !== text) node.textContent = text; }
  function show(node, on) { if (node) node.hidden = !on; }
  function now() { return Date.now() / 1000 + skew; }
  function duration(seconds) {
    const s = Math.max(0, Math.floor(seconds));
    const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
    const two = n => String(n).padStart(2, "0");
    return (h ? h + ":" + two(m) : two(m)) + ":" + two(r);
  }
  function error(message) {
    const slot = $("dk-error");
    slot.textContent = message || "";
    if (message) slot.focus();
  }
  function failure(result) { return messageOf((result && result.data) || {}) || t.failed; }

  async function api(method, url, body) {
    try { return await callApi(method, url, body); } catch (e) { return { ok: false, status: 0, data: null }; }
  }

  // An action button: the API call, its error shown on the page, the button kept from double clicks.
  async function act(button, method, url, body, after) {
    if (button) button.disabled = true;
    error("");
    const result = await api(method, url, body);
    if (button) button.disabled = false;
    if (!result.ok) { error(failure(result)); draw(); return null; }
    if (after) after(result.data);
    draw();
    return result;
  }

  // ---------------------------------------------------------------- the connection

  // the customer panel (desk_customer.js): the screen pop, the customer's record and their forms
  const panel = window.deskCustomerPanel({
    root, me, t, labels, $, el, set, show, api, failure, error, dateTime, duration,
    call: () => call, lastCall: () => lastCall, saveNotes: extra => saveNotes(extra), dial: (n, b) => dial(n, b),
  });

  function setLink(state) {
    root.dataset.state = state;
    const link = $("dk-link");
    link.textContent = state === "live" ? t.live : state === "down" ? t.reconnecting : t.connecting;
    link.className = "dk-link dk-link-" + state;
    show($("dk-stale"), state === "down");
  }



  // The agent's state and call as the box has them now.
  async function resync() {
    const seq = ++syncing;
    const result = await api("GET", "/api/v1/agents");
    if (seq !== syncing) return;
    if (!result.ok || !result.data) { error(failure(result)); stream.restart(); return; }
    const view = result.data.items.find(a => a.agent === me);
    if (view) {
      agent = { state: view.state, reason: view.reason, since: view.since, extension: view.extension, call: view.call };
      set($("dk-answered"), String(view.answered || 0));
      if (view.state !== "logged_out") window.localStorage.removeItem(MONITOR_KEY);
    }
    if (agent.call && !["idle", "paused", "logged_out", "disconnected"].includes(agent.state)) {
      const detail = await api("GET", "/api/v1/calls/" + encodeURIComponent(agent.call));
      if (seq !== syncing) return;
      if (detail.ok) {
        const fresh = !call || call.id !== detail.data.id;
        setCall(detail.data);
        if (fresh) panel.pop(call.id, call.caller);
      }
    } else if (call) {
      endCall();
    }
    if (stream.live) setLink("live");
    draw();
    loadQueues();
  }

  // ---------------------------------------------------------------- events

  function setCall(detail) {
    const ringing = (detail.legs || []).find(l => l.agent === me && l.role === "agent" && l.answered === null && l.ended === null);
    call = { id: detail.id, caller: detail.caller, queue: detail.queue || "", phase: ringing ? "ringing" : detail.phase,
             on_hold: !!detail.on_hold, ivr_path: detail.ivr_path || [], ivr_keys: detail.ivr_keys || "",
             since: detail.agent_answered_at || detail.started_at, remote_answer: !!(ringing && ringing.remote_answer),
             answering: false };
    lastCall = call;
  }

  function endCall() {
    call = null;
    consulting = false;
  }

  function apply(e) {
    switch (e.topic) {
      case "acd.agent_state_changed":
        if (e.agent_id !== me) return;
        agent.state = e.new; agent.reason = e.reason; agent.since = e.at;
        if (e.new !== "logged_out") window.localStorage.removeItem(MONITOR_KEY);
        // back to idle or busy: a consultation that rang here is over (no call event says so to this desk)
        if (call && ["idle", "paused", "logged_out", "disconnected"].includes(e.new)) endCall();
        break;
      case "calls.ringing":
        if (e.agent !== me || e.role === "supervisor") return;
        // sent again once the phone said it can be answered from here (the Answer button)
        if (call && call.id === e.call_id) { if (e.remote_answer) { call.remote_answer = true; break; } return; }
        call = { id: e.call_id, caller: e.caller, queue: e.queue, phase: "ringing", on_hold: false,
                 ivr_path: [], ivr_keys: "", since: e.at, remote_answer: !!e.remote_answer, answering: false };
        lastCall = call;
        consulting = false;
        panel.pop(e.call_id, e.caller);
        details(e.call_id);
        break;
      case "calls.answered":
        if (e.agent !== me || !call || call.id !== e.call_id) return;
        call.phase = "connected"; call.since = e.at;
        break;
      case "calls.bridged":
        if (!call || call.id !== e.call_id) return;
        if (e.agent === me) { call.phase = "connected"; call.on_hold = false; consulting = false; }  // (back to the caller)
        break;
      case "calls.held":
        if (!call || call.id !== e.call_id) return;
        call.on_hold = e.held;
        break;
      case "calls.transferred":
        if (!call || call.id !== e.call_id) return;
        if (e.agent === me) endCall();  // handed on: the customer stays on screen for the service record
        break;
      case "calls.ended":
        if (call && call.id === e.call_id) endCall();
        break;
      default:
        return;
    }
    draw();
    loadQueues();
  }

  // The IVR path and keys of the call (the call's own record: what the caller did before it rang here).
  async function details(callId) {
    const result = await api("GET", "/api/v1/calls/" + encodeURIComponent(callId));
    if (!result.ok || !call || call.id !== callId) return;
    call.ivr_path = result.data.ivr_path || [];
    call.ivr_keys = result.data.ivr_keys || "";
    call.queue = result.data.queue || call.queue;
    draw();
  }

  // ---------------------------------------------------------------- the state panel

  function draw() {
    const state = agent.state;
    const monitor = state === "logged_out" && window.localStorage.getItem(MONITOR_KEY) === "1";
    const badge = $("dk-state");
    let word = labels.states[state] || state;
    if (state === "paused" && agent.reason) word += " · " + (labels.reasons[agent.reason] || agent.reason);
    if (monitor) word += " · " + t.monitor;
    set(badge, word);
    badge.dataset.state = monitor ? "monitor" : state;
    set($("dk-phone"), state !== "logged_out" && agent.extension ? t.atPhone.replace("{ext}", agent.extension) : "");
    show($("dk-signin"), state === "logged_out" && !monitor);
    show($("dk-monitor"), monitor);
    show($("dk-controls"), state !== "logged_out" || monitor);
    $("dk-idle").disabled = !["paused"].includes(state);
    $("dk-busy").disabled = !["idle", "wrap_up"].includes(state);
    $("dk-reason").disabled = $("dk-busy").disabled;
    $("dk-wrapup").disabled = state !== "wrap_up";
    drawCall();
    tick();
  }

  function drawCall() {
    show($("dk-nocall"), !call);
    show($("dk-callbox"), !!call);
    if (!call) return;
    set($("dk-caller"), call.caller);
    set($("dk-queue"), call.queue ? (labels.queues[call.queue] || call.queue) : "—");
    const phase = call.on_hold ? t.onHold : (labels.phases[call.phase] || call.phase);
    set($("dk-phase"), phase);
    set($("dk-ivr"), call.ivr_path.length ? call.ivr_path.join(" → ") : "—");
    set($("dk-keys-pressed"), call.ivr_keys || "—");
    const connected = call.phase === "connected" || call.phase === "answered";
    const answerHere = call.phase === "ringing" && call.remote_answer;
    show($("dk-answer-hint"), call.phase === "ringing" && !answerHere);
    show($("dk-answer-here"), answerHere);
    show($("dk-answer"), answerHere);
    $("dk-answer").disabled = call.answering;
    set($("dk-answer"), call.answering ? t.answering : t.answer);
    const hold = $("dk-hold");
    set(hold, call.on_hold ? t.resume : t.hold);
    hold.setAttribute("aria-pressed", call.on_hold ? "true" : "false");
    for (const id of ["dk-hold", "dk-blind", "dk-consult", "dk-conference", "dk-intended"]) $(id).disabled = !connected;
    for (const id of ["dk-consult", "dk-conference", "dk-blind"]) show($(id), !consulting);
    show($("dk-consulting"), consulting);
  }

  function tick() {
    set($("dk-since"), agent.since && agent.state !== "logged_out" ? duration(now() - agent.since) : "");
    if (call) set($("dk-calltime"), duration(now() - call.since));
  }

  // ---------------------------------------------------------------- my queues (客户排队数, 座席空闲数)

  // An agent's stream carries only events about themselves, so the queues' figures are read again after each of
  // them and every few seconds while the page is in view (a small read: the ACD's counters, no records).
  const myQueues = new Set((document.querySelector(".dk-queues").dataset.queues || "").split(",").filter(Boolean));
  let queuesRead = 0;
  async function loadQueues() {
    queuesRead = Date.now();
    const [result, agents] = await Promise.all([api("GET", "/api/v1/queues/status"), api("GET", "/api/v1/agents")]);
    const view = agents.ok && agents.data ? agents.data.items.find(a => a.agent === me) : null;
    if (view) set($("dk-answered"), String(view.answered || 0));
    if (!result.ok || !result.data) return;
    const rows = result.data.items.filter(q => myQueues.has(q.queue));
    const body = $("dk-qtable").querySelector("tbody");
    if (!rows.length) { body.replaceChildren(panel.emptyRow(4)); return; }
    body.replaceChildren(...rows.map(q => {
      const row = el("tr");
      row.dataset.queue = q.queue;
      const head = el("th", "", q.name || q.queue);
      head.scope = "row";
      row.append(head, el("td", "count", String(q.waiting)), el("td", "count", q.waiting ? duration(q.longest_wait) : "—"),
                 el("td", "count", q.idle + " / " + q.logged_in));
      return row;
    }));
  }
  window.setInterval(() => {
    if (document.visibilityState === "visible" && Date.now() - queuesRead > 4500) { loadQueues(); stillRinging(); }
  }, 1000);

  // A phone that rang here and stopped without an answer (the caller hung up, the ring timed out, a transfer
  // went elsewhere) is not always an event this agent's stream carries: the call's own record says.
  async function stillRinging() {
    if (!call || call.phase !== "ringing" || now() - call.since < 5) return;
    const id = call.id;
    const result = await api("GET", "/api/v1/calls/" + encodeURIComponent(id));
    if (!call || call.id !== id || call.phase !== "ringing") return;
    const mine = result.ok && result.data ? result.data.legs.filter(l => l.agent === me) : [];
    if (result.status === 404 || result.status === 403 || (mine.length && mine.every(l => l.ended))) { endCall(); draw(); }
  }

  // ---------------------------------------------------------------- state actions

  const agentUrl = action => "/api/v1/agents/" + encodeURIComponent(me) + "/" + action;

  $("dk-signin").addEventListener("submit", async event => {
    event.preventDefault();
    const form = event.target;
    clearErrors(form);
    if ($("dk-bind-none").checked) {
      window.localStorage.setItem(MONITOR_KEY, "1");
      draw();
      return;
    }
    const extension = $("dk-extension").value.trim();
    const result = await api("POST", agentUrl("login"), extension ? { extension: extension } : {});
    if (!result.ok) {
      const fields = (result.data && result.data.details && result.data.details.fields) || [];
      showErrors(form, fields, fields.length ? "" : failure(result));
      if (!fields.length) error(failure(result));
      return;
    }
    agent = Object.assign(agent, { state: result.data.state, since: result.data.since, extension: result.data.extension });
    draw();
  });
  $("dk-idle").addEventListener("click", e => act(e.currentTarget, "POST", agentUrl("unpause"), {}, fromView));
  $("dk-busy").addEventListener("click", e => act(e.currentTarget, "POST", agentUrl("pause"), { reason: $("dk-reason").value }, fromView));
  $("dk-wrapup").addEventListener("click", e => act(e.currentTarget, "POST", agentUrl("wrap-up-done"), {}, fromView));
  $("dk-signout").addEventListener("click", async e => {
    if (window.localStorage.getItem(MONITOR_KEY) === "1" && agent.state === "logged_out") {
      window.localStorage.removeItem(MONITOR_KEY);
      draw();
      return;
    }
    await act(e.currentTarget, "POST", agentUrl("logout"), {}, fromView);
  });
  function fromView(view) {
    if (view && view.state) agent = Object.assign(agent, { state: view.state, reason: view.reason, since: view.since, extension: view.extension });
  }

  // ---------------------------------------------------------------- call actions

  const callUrl = action => "/api/v1/calls/" + encodeURIComponent(call.id) + "/" + action;
  function target() {
    const value = $("dk-t-target").value.trim();
    return value ? $("dk-t-kind").value + ":" + value : "";
  }
  function needTarget() {
    const form = $("dk-transfer");
    clearErrors(form);
    const value = target();
    if (!value) showErrors(form, [{ field: "target", message: $("dk-t-hint").textContent, message_zh: $("dk-t-hint").textContent }], "");
    return value;
  }
  async function transferAct(button, action, body, after) {
    const form = $("dk-transfer");
    clearErrors(form);
    button.disabled = true;
    const result = await api("POST", callUrl(action), body);
    button.disabled = false;
    if (!result.ok) {
      const fields = (result.data && result.data.details && result.data.details.fields) || [];
      showErrors(form, fields, fields.length ? "" : failure(result));
      return;
    }
    if (after) after();
    draw();
  }
  function listFor() {
    const source = $("dk-t-list-" + $("dk-t-kind").value);
    $("dk-t-list").replaceChildren(...(source ? Array.from(source.children).map(o => o.cloneNode(true)) : []));
  }
  $("dk-t-kind").addEventListener("change", listFor);
  listFor();

  $("dk-answer").addEventListener("click", async e => {  // the phone goes off-hook; calls.answered follows
    if (!call || call.answering) return;
    const ringing = call;
    ringing.answering = true;
    if (!await act(e.currentTarget, "POST", callUrl("answer"), {})) { ringing.answering = false; draw(); return; }
    // a phone that refuses keeps ringing: the button comes back after a while
    window.setTimeout(() => { if (call === ringing && ringing.phase === "ringing") { ringing.answering = false; draw(); } }, 8000);
  });
  $("dk-hold").addEventListener("click", e => { if (call) act(e.currentTarget, "POST", callUrl("hold"), { on: !call.on_hold }); });
  $("dk-hangup").addEventListener("click", e => { if (call) act(e.currentTarget, "POST", callUrl("hangup"), {}); });
  $("dk-intended").addEventListener("click", e => {
    if (call) act(e.currentTarget, "POST", callUrl("intended-customer"), {}, () => show($("dk-intended-done"), true));
  });
  $("dk-blind").addEventListener("click", e => {
    const to = needTarget();
    if (to && call) transferAct(e.currentTarget, "transfer", { target: to });
  });
  $("dk-consult").addEventListener("click", e => {
    const to = needTarget();
    if (to && call) transferAct(e.currentTarget, "consult", { step: "start", target: to }, () => { consulting = true; });
  });
  $("dk-conference").addEventListener("click", e => {
    const to = needTarget();
    if (to && call) transferAct(e.currentTarget, "conference", { target: to });
  });
  $("dk-complete").addEventListener("click", e => { if (call) transferAct(e.currentTarget, "consult", { step: "complete" }, () => { consulting = false; }); });
  $("dk-return").addEventListener("click", e => { if (call) transferAct(e.currentTarget, "consult", { step: "return" }, () => { consulting = false; }); });
  for (const form of ["dk-transfer", "dk-notes-form"]) $(form).addEventListener("submit", e => e.preventDefault());

  // ---------------------------------------------------------------- notes kept with the call

  $("dk-notes").addEventListener("input", () => {
    set($("dk-notes-state"), t.saving);
    window.clearTimeout(notesTimer);
    notesTimer = window.setTimeout(saveNotes, 600);
  });
  async function saveNotes(extra) {
    const target = lastCall;
    if (!target || target.outbound) return;  // notes go with calls that ring desks (an agent's own dialling does not)
    const body = Object.assign({ notes: $("dk-notes").value }, extra || {});
    const customer = panel.current();
    if (customer && customer.id !== undefined) body.customer_id = String(customer.id);
    const result = await api("PUT", "/api/v1/calls/" + encodeURIComponent(target.id) + "/notes", body);
    if (result.ok) set($("dk-notes-state"), t.savedAt.replace("{time}", clock.format(new Date())));
    else set($("dk-notes-state"), failure(result));
  }

  // ---------------------------------------------------------------- click-to-dial

  async function dial(number, button) {
    const body = { number: number };
    if (agent.extension) body.extension = agent.extension;
    const result = await act(button, "POST", "/api/v1/calls", body);
    if (!result) return;
    set($("dk-dial-state"), t.dialling.replace("{number}", number));
    // a service record saved now is about this call (呼出): the box's call placed from the agent's phone
    if (!call && result.data && result.data.call_id) lastCall = { id: result.data.call_id, outbound: true };
  }
  $("dk-dial-form").addEventListener("submit", event => {
    event.preventDefault();
    const form = event.target;
    const number = $("dk-dial-number").value.trim();
    const body = { number: number };
    if (agent.extension) body.extension = agent.extension;
    panel.submitForm(form, "POST", "/api/v1/calls", body, data => {
      set($("dk-dial-state"), t.dialling.replace("{number}", number));
      if (!call && data && data.call_id) lastCall = { id: data.call_id, outbound: true };
      form.reset();
    });
  });

  // ---------------------------------------------------------------- keyboard

  const KEYS = { KeyA: "dk-answer", KeyI: "dk-idle", KeyB: "dk-busy", KeyW: "dk-wrapup", KeyH: "dk-hold", KeyU: "dk-hangup" };
  const FOCUS = { KeyT: "dk-t-target", KeyN: "dk-notes", KeyR: "dk-r-type" };
  document.addEventListener("keydown", event => {
    if (!event.altKey || event.ctrlKey || event.metaKey) return;
    const button = KEYS[event.code] ? $(KEYS[event.code]) : null;
    const field = FOCUS[event.code] ? $(FOCUS[event.code]) : null;
    if (button && button.offsetParent !== null && !button.disabled) { event.preventDefault(); button.click(); }
    else if (field && field.offsetParent !== null) { event.preventDefault(); field.focus(); }
  });

  setLink("connecting");
  draw();
  stream = openEventStream(TOPICS, {
    open(connects) { root.dataset.connects = String(connects); resync(); },
    dropped() { resync(); },
    event(e) {
      if (typeof e.at === "number") skew = e.at - Date.now() / 1000;
      apply(e);
    },
    down() { setLink("down"); },
  });
  window.setInterval(tick, 1000);
});
