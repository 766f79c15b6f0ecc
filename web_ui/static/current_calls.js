// Records → Current calls: the calls on the box now, from GET /api/v1/calls (scoped to the viewer), read again
// whenever the event stream says a call changed — at most every 300 ms, one read at a time — and on every
// (re)connect, so the list is never older than the last event. A one-second tick only redraws durations.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  const root = document.getElementById("current-calls");
  if (!root) return;
  const labels = JSON.parse(root.dataset.labels || "{}");
  const t = document.getElementById("current-calls-i18n").dataset;
  const lang = zh() ? "zh-CN" : "en";
  const timeFormat = new Intl.DateTimeFormat(lang, { hour: "2-digit", minute: "2-digit", second: "2-digit" });
  const TOPICS = "calls.*";
  let calls = [];
  let skew = 0;  // the box's clock less this browser's
  let reading = false, again = false, timer = 0;

  function setLink(state) {
    root.dataset.state = state;
    const link = document.getElementById("cc-link");
    link.textContent = state === "live" ? t.live : state === "down" ? t.reconnecting : t.connecting;
    document.getElementById("cc-stale").hidden = state !== "down";
  }

  async function read() {
    if (reading) { again = true; return; }
    reading = true;
    try {
      const result = await callApi("GET", "/api/v1/calls");
      if (result.ok && result.data) {
        calls = result.data.items;
        skew = result.data.at - Date.now() / 1000;  // durations count on the box's clock
        draw();
      }
    } catch (e) { /* the next event or reconnect reads again */ }
    reading = false;
    if (again) { again = false; read(); }
  }

  function soon() { if (!timer) timer = window.setTimeout(() => { timer = 0; read(); }, 300); }

  function duration(seconds) {
    const s = Math.max(0, Math.floor(seconds));
    const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
    const two = n => String(n).padStart(2, "0");
    return (h ? h + ":" + two(m) : two(m)) + ":" + two(r);
  }

  function cell(text, cls) {
    const td = document.createElement("td");
    if (cls) td.className = cls;
    td.textContent = text;
    return td;
  }

  function draw() {
    const now = Date.now() / 1000 + skew;
    const body = document.querySelector("#cc-calls tbody");
    body.replaceChildren(...calls.map(c => {
      const row = document.createElement("tr");
      row.dataset.call = c.id;
      row.dataset.phase = c.phase;
      const state = (labels.phases[c.phase] || c.phase) + (c.on_hold ? " · " + t.onHold : "");
      row.append(cell(c.caller_name ? c.caller + " (" + c.caller_name + ")" : c.caller), cell(c.callee),
                 cell(timeFormat.format(new Date(c.started_at * 1000))),
                 cell(duration(now - c.started_at), "cc-duration"),
                 cell(labels.directions[c.direction] || c.direction), cell(state),
                 cell(c.queue ? (labels.queues[c.queue] || c.queue) : ""), cell(c.did || ""), cell(c.agent || ""));
      row.querySelector(".cc-duration").dataset.start = String(c.started_at);
      return row;
    }));
    document.getElementById("cc-empty").hidden = calls.length > 0;
  }

  function tick() {
    const now = Date.now() / 1000 + skew;
    for (const td of document.querySelectorAll("#cc-calls .cc-duration")) {
      const text = duration(now - Number(td.dataset.start));
      if (td.textContent !== text) td.textContent = text;
    }
  }

  setLink("connecting");
  openEventStream(TOPICS, {
    open() { setLink("live"); read(); },
    dropped() { soon(); },
    event() { soon(); },  // any call event: read the list again
    down() { setLink("down"); },
  });
  window.setInterval(tick, 1000);
});
