// Live operations → Supervisor console: the agents and queues the supervisor manages, kept live over the event
// stream (/api/v1/events, which already carries only their events) with no polling. The state is read from
// the snapshots (/api/v1/wallboard, /api/v1/monitors) each time the stream opens or says it dropped events;
// events that arrive meanwhile are applied after the snapshot, as on the wallboard. Every action goes through
// the API, which checks the supervisor's scope again. Rows are kept by id and updated in place, so keyboard
// focus stays on the button pressed while the board moves.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  const root = document.getElementById("console");
  if (!root) return;
  const labels = JSON.parse(root.dataset.labels || "{}");
  const t = document.getElementById("console-i18n").dataset;
  const TOPICS = "acd.*,calls.ringing,calls.monitor_started,calls.ended";
  const CLEARS_CALL = new Set(["idle", "paused", "logged_out", "disconnected"]);
  const MODES = Object.keys(labels.modes);
  const extensionInput = document.getElementById("sc-extension");

  let board = null;  // {skew, agents: Map, calls: Map (waiting calls), monitors: Map}
  let buffer = null;
  let syncSeq = 0;
  let stream = null;  // openEventStream's handle (app.js)
  let mine = null;  // this console's supervisor call: {call, agent, mode, joined}
  let frame = 0;
  const agentRows = new Map();
  const callRows = new Map();

  const fill = (template, values) => template.replace(/\{(\w+)\}/g, (_, k) => (k in values ? values[k] : ""));
  const agentName = id => (labels.agents[id] ? labels.agents[id] + " (" + id + ")" : id);
  function el(tag, cls, text) {
    const node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined) node.textContent = text;
    return node;
  }
  function set(node, text) { if (node && node.textContent !== text) node.textContent = text; }
  function duration(seconds) {
    const s = Math.max(0, Math.floor(seconds));
    const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
    const two = n => String(n).padStart(2, "0");
    return (h ? h + ":" + two(m) : two(m)) + ":" + two(r);
  }
  const now = () => Date.now() / 1000 + (board ? board.skew : 0);

  // ---------------------------------------------------------------- messages

  function say(message) {
    document.getElementById("sc-error").hidden = true;
    set(document.getElementById("sc-result"), message);
  }
  function refused(result) {
    const box = document.getElementById("sc-error");
    const reason = result.data && typeof result.data === "object" ? messageOf(result.data) : String(result.status || "");
    box.textContent = fill(t.failed, { reason: reason });
    box.hidden = false;
  }

  // ---------------------------------------------------------------- the connection

  function setLink(state) {
    root.dataset.state = state;
    const link = document.getElementById("sc-link");
    link.textContent = state === "live" ? t.live : state === "down" ? t.reconnecting : t.connecting;
    link.className = "sc-link sc-link-" + state;
    document.getElementById("sc-stale").hidden = state !== "down";
  }

  async function resync() {
    const seq = ++syncSeq;
    if (!buffer) buffer = [];
    let snap, monitors;
    try {
      [snap, monitors] = await Promise.all([callApi("GET", "/api/v1/wallboard"), callApi("GET", "/api/v1/monitors")]);
    } catch (e) { snap = { ok: false, data: null }; monitors = snap; }
    if (seq !== syncSeq) return;
    if (!snap.ok || !monitors.ok) {
      refused(snap.ok ? monitors : snap);
      buffer = null;
      if (stream) stream.restart();  // and try again from the start, after the usual delay
      return;
    }
    board = load(snap.data, monitors.data.items);
    const pending = buffer;
    buffer = null;
    for (const event of pending) if (event.at > board.at) apply(event);
    build();
    if (stream && stream.live) setLink("live");
  }

  function load(snap, monitors) {
    const b = { at: snap.at, skew: snap.at - Date.now() / 1000, agents: new Map(), calls: new Map(), monitors: new Map() };
    for (const a of snap.agents) b.agents.set(a.agent, Object.assign({}, a));
    for (const q of snap.queues) for (const c of q.calls) b.calls.set(c.call, { queue: q.queue, caller: c.caller, since: c.since, ringing: c.ringing });
    for (const m of monitors) b.monitors.set(m.call, m);
    // this console's call, found again after a reload: the one on this supervisor's phone
    const ext = extensionInput.value.trim();
    const found = monitors.find(m => (mine && m.call === mine.call) || (!mine && ext && m.extension === ext));
    if (found) mine = { call: found.call, agent: found.agent, mode: found.mode, joined: true };
    else if (mine && mine.joined) mine = null;  // it ended while the page was away
    return b;
  }

  // ---------------------------------------------------------------- events → the model

  function apply(e) {
    const b = board;
    switch (e.topic) {
      case "acd.call_queued":
        b.calls.set(e.call_id, { queue: e.queue_id, caller: e.caller, since: e.at, ringing: false });
        break;
      case "acd.call_offered": {
        const call = b.calls.get(e.call_id);
        if (call) call.ringing = true;
        break;
      }
      case "acd.call_returned": {
        const call = b.calls.get(e.call_id);
        if (call) call.ringing = false;
        break;
      }
      case "acd.call_answered": {
        const call = b.calls.get(e.call_id);
        b.calls.delete(e.call_id);
        const a = b.agents.get(e.agent_id);
        if (a) { a.call = e.call_id; a.queue = e.queue_id; if (call) a.number = call.caller; }
        break;
      }
      case "acd.call_abandoned":
      case "acd.call_overflowed":
        // a call moved into another of these queues is queued there again (acd.call_queued follows)
        b.calls.delete(e.call_id);
        break;
      case "acd.agent_state_changed": {
        const a = b.agents.get(e.agent_id);
        if (!a) break;
        a.state = e.new; a.reason = e.reason; a.since = e.at;
        if (CLEARS_CALL.has(e.new)) { a.call = null; a.number = ""; a.queue = ""; }
        break;
      }
      case "calls.ringing": {
        const a = e.agent ? b.agents.get(e.agent) : null;
        if (a) { a.call = e.call_id; a.number = e.caller; a.queue = e.queue; }
        break;
      }
      case "calls.monitor_started":
        if (mine && !mine.joined && mine.agent === e.agent) { mine.joined = true; mine.mode = e.mode; }
        break;
      case "calls.ended":
        if (mine && e.call_id === mine.call) { mine = null; say(t.ended); }
        b.calls.delete(e.call_id);
        break;
      default:
        break;
    }
  }

  // ---------------------------------------------------------------- the model → the page

  function button(text, data, cls) {
    const node = el("button", cls || "secondary", text);
    node.type = "button";
    Object.assign(node.dataset, data);
    return node;
  }

  function agentRow(a) {
    const row = el("tr");
    row.dataset.agent = a.agent;
    const head = el("th", "", agentName(a.agent));
    head.scope = "row";
    const state = el("td", "sc-state");
    state.append(el("span", "sc-badge"));
    const join = el("div", "sc-actions");  // (a flex box inside the cell: a flex cell is no longer a table cell)
    for (const mode of MODES) join.append(button(labels.modes[mode], { monitor: mode, agent: a.agent }));
    const force = el("div", "sc-actions");
    force.append(button(t.idle, { force: "idle", agent: a.agent }), button(t.busy, { force: "busy", agent: a.agent }),
                 button(t.logout, { force: "logged_out", agent: a.agent }));
    const joinCell = el("td"), forceCell = el("td");
    joinCell.append(join);
    forceCell.append(force);
    row.append(head, state, el("td", "sc-time"), el("td", "sc-call"), joinCell, forceCell);
    return row;
  }

  function callRow(id) {
    const row = el("tr");
    row.dataset.call = id;
    const head = el("th", "sc-caller");
    head.scope = "row";
    const move = el("div", "sc-actions");
    const select = el("select");
    select.id = "sc-move-" + id;
    select.append(document.getElementById("sc-move-options").content.cloneNode(true));
    const label = el("label", "sr-only");
    label.htmlFor = select.id;
    move.append(label, select, button(t.move, { move: id }));
    const moveCell = el("td");
    moveCell.append(move);
    row.append(head, el("td", "sc-queue"), el("td", "sc-wait"), moveCell);
    return row;
  }

  // Keep rows by id: add the new, drop the gone, keep the order, and leave the rest (and focus) alone.
  function reconcile(tbody, rowsById, ids, make) {
    for (const [id, row] of rowsById) if (!ids.includes(id)) { row.remove(); rowsById.delete(id); }
    let previous = null;
    for (const id of ids) {
      let row = rowsById.get(id);
      if (!row) { row = make(id); rowsById.set(id, row); }
      const expected = previous ? previous.nextSibling : tbody.firstChild;
      if (row !== expected) tbody.insertBefore(row, expected);
      previous = row;
    }
  }

  function build() {
    const agents = Array.from(board.agents.values()).sort((x, y) => x.agent.localeCompare(y.agent));
    reconcile(document.querySelector("#sc-agents tbody"), agentRows, agents.map(a => a.agent),
              id => agentRow(board.agents.get(id)));
    document.getElementById("sc-no-agents").hidden = agents.length > 0;
    const waiting = Array.from(board.calls.entries()).sort((x, y) => x[1].since - y[1].since).map(([id]) => id);
    reconcile(document.querySelector("#sc-waiting tbody"), callRows, waiting, callRow);
    document.getElementById("sc-no-waiting").hidden = waiting.length > 0;
    draw();
  }

  function draw() {
    frame = 0;
    if (!board) return;
    for (const [id, row] of agentRows) {
      const a = board.agents.get(id);
      if (!a) continue;
      let word = labels.states[a.state] || a.state;
      if (a.state === "paused" && a.reason) word += " · " + (labels.reasons[a.reason] || a.reason);
      row.dataset.state = a.state;
      const badge = row.querySelector(".sc-badge");
      badge.className = "sc-badge sc-st-" + a.state;
      set(badge, word);
      set(row.querySelector(".sc-time"), a.since === null || a.since === undefined ? "" : duration(now() - a.since));
      const onCall = a.state === "on_call" && a.call;
      const queueName = a.queue ? (labels.queues[a.queue] || a.queue) : "";
      set(row.querySelector(".sc-call"), a.call && !CLEARS_CALL.has(a.state) ? [a.number, queueName].filter(Boolean).join(" · ") : "");
      for (const b of row.querySelectorAll("button[data-monitor]")) {
        const current = mine && mine.agent === id;
        b.disabled = current ? mine.mode === "take_over" : !onCall;
        b.setAttribute("aria-pressed", current && mine.mode === b.dataset.monitor ? "true" : "false");
      }
      for (const b of row.querySelectorAll("button[data-force]")) {
        // a logged-out agent is logged in by themself (or the desk), never forced into a state
        b.disabled = a.state === "logged_out" || (b.dataset.force === "idle" && a.state === "idle");
      }
    }
    for (const [id, row] of callRows) {
      const c = board.calls.get(id);
      if (!c) continue;
      set(row.querySelector(".sc-caller"), c.caller || "—");
      set(row.querySelector(".sc-queue"), labels.queues[c.queue] || c.queue);
      set(row.querySelector(".sc-wait"), duration(now() - c.since));
      const label = row.querySelector("label");
      set(label, fill(t.moveLabel, { caller: c.caller || "—" }));
      for (const option of row.querySelectorAll("option")) option.disabled = option.value === "queue:" + c.queue;
    }
    drawMonitor();
  }

  function drawMonitor() {
    const panel = document.getElementById("sc-monitor");
    panel.hidden = !mine;
    if (!mine) return;
    const ext = extensionInput.value.trim();
    set(document.getElementById("sc-monitor-status"), mine.joined
      ? fill(t.monitoring, { mode: labels.modeStatus[mine.mode] || mine.mode, agent: agentName(mine.agent), ext: ext })
      : fill(t.ringing, { ext: ext, agent: agentName(mine.agent) }));
    panel.dataset.mode = mine.joined ? mine.mode : "";
    for (const b of panel.querySelectorAll("button[data-switch]")) {
      b.disabled = !mine.joined || mine.mode === "take_over";  // after a take-over there is no agent's call
      b.setAttribute("aria-pressed", mine.joined && mine.mode === b.dataset.switch ? "true" : "false");
    }
  }

  function schedule() {
    if (frame) return;
    frame = window.requestAnimationFrame(() => { frame = 0; if (board) build(); });
  }

  // ---------------------------------------------------------------- actions

  async function monitor(agentId, mode) {
    if (mine && mine.agent === agentId) return switchMode(mode);
    const a = board.agents.get(agentId);
    const ext = extensionInput.value.trim();
    if (!/^[0-9]{1,20}$/.test(ext)) { refused({ data: { message: t.noExtension, message_zh: t.noExtension } }); extensionInput.focus(); return; }
    const result = await callApi("POST", "/api/v1/calls/" + encodeURIComponent(a.call) + "/monitor", { mode: mode, extension: ext });
    if (!result.ok) { refused(result); return; }
    mine = { call: result.data.monitor_call_id, agent: agentId, mode: mode, joined: false };
    say("");  // the monitoring panel's own status line says what happens now
    schedule();
  }

  async function switchMode(mode) {
    if (!mine || !mine.joined || mine.mode === mode) return;
    const result = await callApi("POST", "/api/v1/calls/" + encodeURIComponent(mine.call) + "/monitor-mode", { mode: mode });
    if (!result.ok) { refused(result); return; }
    mine.mode = mode;
    say("");
    schedule();
  }

  async function leave() {
    if (!mine) return;
    const result = await callApi("POST", "/api/v1/calls/" + encodeURIComponent(mine.call) + "/hangup");
    if (!result.ok && result.status !== 404) { refused(result); return; }
    mine = null;
    say(t.ended);
    schedule();
  }

  async function force(agentId, state) {
    const body = { state: state };
    if (state === "busy") body.reason = document.getElementById("sc-reason").value;
    const result = await callApi("POST", "/api/v1/agents/" + encodeURIComponent(agentId) + "/force", body);
    if (!result.ok) { refused(result); return; }
    let word = labels.states[result.data.state] || result.data.state;
    if (result.data.state === "paused" && result.data.reason) word += " · " + (labels.reasons[result.data.reason] || result.data.reason);
    say(fill(t.forced, { agent: agentName(agentId), state: word }));
  }

  async function move(callId) {
    const select = document.getElementById("sc-move-" + callId);
    const call = board.calls.get(callId);
    if (!select || !select.value) return;
    const [kind, target] = select.value.split(":");
    const result = await callApi("POST", "/api/v1/calls/" + encodeURIComponent(callId) + "/move", { [kind]: target });
    if (!result.ok) { refused(result); return; }
    say(fill(t.moved, { caller: call ? call.caller : "" }));
  }

  root.addEventListener("click", (e) => {
    const target = e.target.closest("button");
    if (!target || target.disabled || !board) return;
    if (target.dataset.monitor) monitor(target.dataset.agent, target.dataset.monitor);
    else if (target.dataset.switch) switchMode(target.dataset.switch);
    else if (target.dataset.force) force(target.dataset.agent, target.dataset.force);
    else if (target.dataset.move) move(target.dataset.move);
    else if (target.id === "sc-hangup") leave();
  });

  setLink("connecting");
  stream = openEventStream(TOPICS, {
    open(connects) { root.dataset.connects = String(connects); resync(); },
    event(event) {
      if (buffer) buffer.push(event);
      else if (board) { apply(event); schedule(); }
    },
    dropped() { resync(); },
    down() { setLink("down"); },
  });
  window.setInterval(() => { if (board) draw(); }, 1000);
});
