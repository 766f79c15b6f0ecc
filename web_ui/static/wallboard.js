// Live operations → Wallboard: agents as tiles coloured by state and the queues with today's figures, kept
// live over the event stream (/api/v1/events) with no polling. The board is drawn from the snapshot
// (/api/v1/wallboard) read each time the stream opens, and again when the server says events were dropped:
// events that arrive while the snapshot is read are kept and applied after it (those later than its `at`),
// so a reconnect never leaves a stale board. A one-second local tick only redraws times (time in state,
// longest wait) from what is already known.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  const root = document.getElementById("wallboard");
  if (!root) return;
  const labels = JSON.parse(root.dataset.labels || "{}");
  const limits = JSON.parse(root.dataset.thresholds || "{}");
  const t = document.getElementById("wallboard-i18n").dataset;
  const lang = zh() ? "zh-CN" : "en";
  const percent = new Intl.NumberFormat(lang, { style: "percent", maximumFractionDigits: 1 });
  const number = new Intl.NumberFormat(lang);
  const clockFormat = new Intl.DateTimeFormat(lang, { hour: "2-digit", minute: "2-digit", second: "2-digit" });
  const CLEARS_CALL = new Set(["idle", "paused", "logged_out", "disconnected"]);
  const TOPICS = "acd.*,calls.ringing,ivr.started,ivr.ended,records.call_completed";

  let board = null;  // the model: agents, queues, calls the ACD holds, clock skew, the local day
  let buffer = null;  // events that came while a snapshot is being read (null: none is)
  let syncing = false;  // a snapshot is being read
  let syncAgain = false;  // and events were dropped meanwhile: read another once it is in
  let stream = null;
  const dirtyAgents = new Set();
  const dirtyQueues = new Set();
  const tiles = new Map();  // agent id → its tile, as drawn by build() (a thousand agents redraw every second)
  const rows = new Map();  // queue id → its table row
  let frame = 0;
  let dirtyCounters = false;

  // ---------------------------------------------------------------- the connection

  function setLink(state) {
    root.dataset.state = state;
    const link = document.getElementById("wb-link");
    link.textContent = state === "live" ? t.live : state === "down" ? t.reconnecting : t.connecting;
    link.className = "wb-link wb-link-" + state;
    document.getElementById("wb-stale").hidden = state !== "down";
  }

  // One snapshot at a time: when drops keep coming (a box too busy to keep up), starting a new read for each
  // and dropping the older one would never let any arrive, and the board would stay as it was.
  async function resync() {
    if (syncing) { syncAgain = true; return; }
    syncing = true;
    if (!buffer) buffer = [];
    let result;
    try { result = await callApi("GET", "/api/v1/wallboard"); } catch (e) { result = { ok: false, data: null }; }
    syncing = false;
    const error = document.getElementById("wb-error");
    if (!result.ok || !result.data) {
      error.textContent = t.failed.replace("{reason}", result.data ? messageOf(result.data) : String(result.status || ""));
      error.hidden = false;
      buffer = null;
      syncAgain = false;
      stream.restart();  // and try again from the start, after the usual delay
      return;
    }
    error.hidden = true;
    board = load(result.data);
    const pending = buffer;
    buffer = null;
    for (const event of pending) if (event.at > board.at) apply(event);
    build();
    if (stream.live) setLink("live");
    if (syncAgain) { syncAgain = false; resync(); }
  }

  function load(snap) {
    const b = { at: snap.at, skew: snap.at - Date.now() / 1000, day: snap.day, shortAbandon: snap.short_abandon_s,
                longCall: snap.long_call_s, ivr: Object.assign({ entries: 0, abandoned: 0 }, snap.ivr_today),
                agents: new Map(), queues: new Map(), calls: new Map() };
    for (const a of snap.agents) b.agents.set(a.agent, Object.assign({}, a));
    for (const q of snap.queues) {
      b.queues.set(q.queue, Object.assign({}, q, { today: Object.assign({}, q.today) }));
      for (const c of q.calls) b.calls.set(c.call, { queue: q.queue, caller: c.caller, since: c.since, ringing: c.ringing });
    }
    return b;
  }

  // ---------------------------------------------------------------- events → the model

  function touchAgent(a) { dirtyAgents.add(a.agent); for (const q of board.queues.values()) if (q.members.includes(a.agent)) dirtyQueues.add(q.queue); }

  function dropCall(id) {
    const call = board.calls.get(id);
    board.calls.delete(id);
    if (call) dirtyQueues.add(call.queue);
  }

  function apply(e) {
    const b = board;
    const q = b.queues.get(e.queue_id);
    if (q) dirtyQueues.add(q.queue);
    switch (e.topic) {
      case "acd.call_queued":
        b.calls.set(e.call_id, { queue: e.queue_id, caller: e.caller, since: e.at, ringing: false });
        if (q) q.today.queued += 1;
        break;
      case "acd.call_offered": {
        const call = b.calls.get(e.call_id);
        if (call) call.ringing = true;
        for (const id of e.agent_ids) {
          const a = b.agents.get(id);
          if (a) { a.call = e.call_id; a.number = call ? call.caller : ""; a.queue = e.queue_id; touchAgent(a); }
        }
        break;
      }
      case "acd.call_returned": {
        const call = b.calls.get(e.call_id);
        if (call) call.ringing = false;
        break;
      }
      case "acd.call_answered": {
        const call = b.calls.get(e.call_id);
        dropCall(e.call_id);
        if (q) {
          q.today.answered += 1;
          if (e.wait <= q.service_level.target_s) q.today.answered_in_sl += 1;
        }
        const a = b.agents.get(e.agent_id);
        if (a) {
          a.answered_today += 1;
          a.call = e.call_id; a.queue = e.queue_id;
          if (call) a.number = call.caller;
          touchAgent(a);
        }
        break;
      }
      case "acd.call_abandoned":
        dropCall(e.call_id);
        if (q) { if (e.wait < b.shortAbandon) q.today.short_abandoned += 1; else q.today.abandoned += 1; }
        break;
      case "acd.call_overflowed":
        dropCall(e.call_id);
        if (q) { if (e.reason === "max_wait") q.today.timed_out += 1; else q.today.overflowed += 1; }
        break;
      case "acd.agent_state_changed": {
        const a = b.agents.get(e.agent_id);
        if (!a) break;
        a.state = e.new; a.reason = e.reason; a.since = e.at;
        if (CLEARS_CALL.has(e.new)) { a.call = null; a.number = ""; a.queue = ""; }
        touchAgent(a);
        break;
      }
      case "ivr.started":
        b.ivr.entries += 1;
        dirtyCounters = true;
        break;
      case "ivr.ended":
        if (e.exit_reason === "abandoned") { b.ivr.abandoned += 1; dirtyCounters = true; }
        break;
      case "records.call_completed": {
        const done = b.queues.get(e.queue);
        if (done && e.talk > b.longCall) { done.today.long_calls += 1; dirtyQueues.add(done.queue); }
        break;
      }
      case "calls.ringing": {
        const a = e.agent ? b.agents.get(e.agent) : null;
        if (a) { a.call = e.call_id; a.number = e.caller; a.queue = e.queue; touchAgent(a); }
        break;
      }
      default:
        break;
    }
  }

  // ---------------------------------------------------------------- the model → the page

  const filters = {};
  for (const name of ["department", "group", "queue"]) {
    const select = document.getElementById("wb-f-" + name);
    filters[name] = select;
    if (select) select.addEventListener("change", () => {
      const url = new URL(window.location.href);
      if (select.value) url.searchParams.set(name, select.value); else url.searchParams.delete(name);
      window.history.replaceState(null, "", url);
      build();
    });
  }
  const chosen = name => (filters[name] ? filters[name].value : "");

  function shownAgents() {
    const queue = chosen("queue") ? board.queues.get(chosen("queue")) : null;
    return Array.from(board.agents.values()).filter(a =>
      (!chosen("group") || a.work_group === chosen("group")) &&
      (!chosen("department") || a.department === chosen("department")) &&
      (!queue || queue.members.includes(a.agent)));
  }

  function shownQueues(agents) {
    const ids = new Set(agents.map(a => a.agent));
    const narrowed = chosen("group") || chosen("department");
    return Array.from(board.queues.values()).filter(q =>
      (!chosen("queue") || q.queue === chosen("queue")) && (!narrowed || q.members.some(m => ids.has(m))));
  }

  function el(tag, cls, text) {
    const node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  const QUEUE_COLUMNS = ["waiting", "longest", "idle", "busy", "on_call", "wrap_up", "offered", "answered",
                         "abandoned", "service_level", "abandon_rate", "long_calls"];

  function build() {
    const agents = shownAgents();
    const queues = shownQueues(agents);
    const tbody = document.querySelector("#wb-queues tbody");
    tiles.clear(); rows.clear();
    tbody.replaceChildren(...queues.map(q => {
      const row = el("tr");
      rows.set(q.queue, row);
      row.dataset.queue = q.queue;
      const head = el("th", "", q.name || q.queue);
      head.scope = "row";
      row.append(head, ...QUEUE_COLUMNS.map(col => { const cell = el("td", "count"); cell.dataset.col = col; return cell; }));
      return row;
    }));
    const list = document.getElementById("wb-agents");
    list.replaceChildren(...agents.map(a => {
      const tile = el("li", "wb-agent");
      tiles.set(a.agent, tile);
      tile.dataset.agent = a.agent;
      const head = el("div", "wb-a-head");
      head.append(el("span", "wb-a-name", a.name || a.agent), el("span", "wb-a-id", a.agent));
      const state = el("div", "wb-a-state");
      state.append(el("span", "wb-a-word"), el("span", "wb-a-time"));
      const today = el("div", "wb-a-today");
      today.append(el("span", "", t.callsToday + " "), el("b", "wb-a-count"));
      tile.append(head, state, el("div", "wb-a-call"), today);
      return tile;
    }));
    document.getElementById("wb-empty").hidden = agents.length + queues.length > 0;
    dirtyAgents.clear(); dirtyQueues.clear();
    for (const a of agents) drawAgent(a);
    for (const q of queues) drawQueue(q);
    drawSummary(agents);
    drawCounters();
  }

  function set(node, text) { if (node && node.textContent !== text) node.textContent = text; }

  function duration(seconds) {
    const s = Math.max(0, Math.floor(seconds));
    const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
    const two = n => String(n).padStart(2, "0");
    return (h ? h + ":" + two(m) : two(m)) + ":" + two(r);
  }

  function now() { return Date.now() / 1000 + board.skew; }

  function drawAgent(a) {
    const tile = tiles.get(a.agent);
    if (!tile) return;  // filtered out
    if (tile.dataset.state !== a.state) { tile.dataset.state = a.state; tile.className = "wb-agent wb-st-" + a.state; }
    let word = labels.states[a.state] || a.state;
    if (a.state === "paused" && a.reason) word += " · " + (labels.reasons[a.reason] || a.reason);
    set(tile.querySelector(".wb-a-word"), word);
    set(tile.querySelector(".wb-a-time"), a.since === null ? "" : duration(now() - a.since));
    const busyWithCall = a.call && !CLEARS_CALL.has(a.state);
    const queueName = a.queue ? (labels.queues[a.queue] || a.queue) : "";
    set(tile.querySelector(".wb-a-call"), busyWithCall ? [a.number, queueName].filter(Boolean).join(" · ") : "");
    set(tile.querySelector(".wb-a-count"), number.format(a.answered_today || 0));
  }

  function level(value, limit) {
    if (!limit || value === null) return "";
    return value >= limit.red ? "red" : value >= limit.amber ? "amber" : "";
  }

  function cell(row, col, text, mark) {
    const node = row.querySelector('td[data-col="' + col + '"]');
    const shown = text + (mark === "red" ? " " + t.alarm : mark === "amber" ? " " + t.warning : "");
    if (node.dataset.level !== (mark || "")) { node.dataset.level = mark || ""; node.className = "count" + (mark ? " wb-" + mark : ""); }
    if (node.dataset.shown !== shown) {
      node.dataset.shown = shown;
      node.replaceChildren(el("span", "wb-v", text));
      if (mark) node.append(el("span", "sr-only", mark === "red" ? t.alarm : t.warning));
    }
  }

  function drawQueue(q) {
    const row = rows.get(q.queue);
    if (!row) return;  // filtered out
    let waiting = 0, oldest = null;
    for (const c of board.calls.values()) {
      if (c.queue !== q.queue || c.ringing) continue;
      waiting += 1;
      if (oldest === null || c.since < oldest) oldest = c.since;
    }
    const longest = oldest === null ? 0 : Math.max(0, now() - oldest);
    const counts = { idle: 0, paused: 0, on_call: 0, wrap_up: 0 };
    for (const id of q.members) {
      const a = board.agents.get(id);
      if (!a) continue;
      if (a.state === "ringing") counts.on_call += 1; else if (a.state in counts) counts[a.state] += 1;
    }
    const d = q.today;
    const offered = d.queued - d.short_abandoned;
    const base = q.service_level.basis === "answered" ? d.answered : offered;
    const sl = base > 0 ? d.answered_in_sl / base : null;
    const abandonRate = offered > 0 ? d.abandoned / offered : null;
    cell(row, "waiting", number.format(waiting), level(waiting, limits.queue_waiting_high));
    cell(row, "longest", oldest === null ? "—" : duration(longest), level(oldest === null ? null : longest, limits.queue_wait_long));
    cell(row, "idle", number.format(counts.idle));
    cell(row, "busy", number.format(counts.paused));
    cell(row, "on_call", number.format(counts.on_call));
    cell(row, "wrap_up", number.format(counts.wrap_up));
    cell(row, "offered", number.format(Math.max(0, offered)));
    cell(row, "answered", number.format(d.answered));
    cell(row, "abandoned", number.format(d.abandoned));
    cell(row, "service_level", (sl === null ? "—" : percent.format(sl)) + " / " + t.target.replace("{s}", number.format(q.service_level.target_s)),
         level(sl === null ? null : 100 - sl * 100, limits.queue_service_level_low));
    cell(row, "abandon_rate", abandonRate === null ? "—" : percent.format(abandonRate));
    cell(row, "long_calls", number.format(d.long_calls || 0));
  }

  // Seed 004's monitor line: the IVR's entries and abandons today (the whole box's), and over the queues shown,
  // the calls that entered them, those abandoned, the abandon rate, the calls waiting now and those talked
  // over 15 s.
  function drawCounters() {
    const shown = new Set(rows.keys());
    let offered = 0, abandoned = 0, longCalls = 0, waiting = 0;
    for (const q of board.queues.values()) {
      if (!shown.has(q.queue)) continue;
      offered += Math.max(0, q.today.queued - q.today.short_abandoned);
      abandoned += q.today.abandoned;
      longCalls += q.today.long_calls || 0;
    }
    for (const c of board.calls.values()) if (shown.has(c.queue) && !c.ringing) waiting += 1;
    const values = { ivr_entries: number.format(board.ivr.entries), ivr_abandoned: number.format(board.ivr.abandoned),
                     queue_entries: number.format(offered), queue_abandoned: number.format(abandoned),
                     queue_abandon_rate: offered > 0 ? percent.format(abandoned / offered) : "—",
                     waiting: number.format(waiting), long_calls: number.format(longCalls) };
    for (const item of document.querySelectorAll("#wb-counters [data-counter]")) set(item, values[item.dataset.counter]);
    dirtyCounters = false;
  }

  function drawSummary(agents) {
    const counts = {};
    for (const a of agents) counts[a.state] = (counts[a.state] || 0) + 1;
    for (const item of document.querySelectorAll("#wb-summary li")) set(item.querySelector("b"), number.format(counts[item.dataset.state] || 0));
  }

  function flush() {
    frame = 0;
    if (!board) return;
    for (const id of dirtyAgents) { const a = board.agents.get(id); if (a) drawAgent(a); }
    for (const id of dirtyQueues) { const q = board.queues.get(id); if (q) drawQueue(q); }
    if (dirtyAgents.size) drawSummary(shownAgents());
    if (dirtyCounters || dirtyQueues.size) drawCounters();
    dirtyAgents.clear(); dirtyQueues.clear();
  }

  function schedule() { if (!frame) frame = window.requestAnimationFrame(flush); }

  function tick() {
    if (!board) return;
    set(document.getElementById("wb-clock"), clockFormat.format(new Date(now() * 1000)));
    if (board.day && now() >= board.day.end && !buffer) { resync(); return; }  // a new day: today's figures start again
    for (const id of tiles.keys()) dirtyAgents.add(id);
    for (const id of rows.keys()) dirtyQueues.add(id);
    schedule();
  }

  // ---------------------------------------------------------------- TV mode

  const tvButton = document.getElementById("wb-tv");
  function tvMode(on) {
    document.documentElement.classList.toggle("wb-tv", on);
    tvButton.setAttribute("aria-pressed", on ? "true" : "false");
    tvButton.textContent = on ? t.tvExit : t.tv;
  }
  tvButton.addEventListener("click", () => {
    const on = !document.documentElement.classList.contains("wb-tv");
    tvMode(on);
    if (on && document.documentElement.requestFullscreen) document.documentElement.requestFullscreen().catch(() => {});
    if (!on && document.fullscreenElement) document.exitFullscreen().catch(() => {});
  });
  document.addEventListener("fullscreenchange", () => { if (!document.fullscreenElement) tvMode(false); });
  if (root.dataset.tv) tvMode(true);

  setLink("connecting");
  stream = openEventStream(TOPICS, {
    open(connects) { root.dataset.connects = String(connects); resync(); },
    dropped() { resync(); },
    event(e) {
      if (buffer) buffer.push(e);
      else if (board) { apply(e); schedule(); }
    },
    down() { setLink("down"); },
  });
  window.setInterval(tick, 1000);
});
