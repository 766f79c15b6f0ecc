// The visual IVR editor. Our Flow JSON (exactly what /api/v1/ivr_flows takes and returns) is the model;
// Drawflow only draws it. Everything that knows Drawflow is in GraphView below, so the drawing library can
// be replaced without touching the model, the side panel or the API. Drawflow's nodes are filled with DOM
// calls, never HTML strings, and positioned through the CSSOM, so nothing here needs a weaker CSP.
// Uses callApi, csrfToken and messageOf from app.js, which runs after this file: hence DOMContentLoaded.
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  const dataEl = document.getElementById("ivr-data");
  if (!dataEl) return;
  const DATA = JSON.parse(dataEl.textContent);
  const KINDS = DATA.kinds;
  const LABELS = DATA.labels;
  const CHOICES = DATA.choices;
  const T = document.getElementById("ivr-i18n").dataset;
  const TARGET_FIELDS = ["next", "invalid", "timeout", "fallback", "otherwise"];
  const CHOICE_FIELDS = { queue: "queue", box: "box", extension: "extension", flow: "flow", skill: "skill" };
  const LAYOUT_KEY = "ivr-layout:";
  const $ = id => document.getElementById(id);

  function el(tag, attrs, children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === "text") node.textContent = v;
      else if (k === "class") node.className = v;
      else node.setAttribute(k, v === true ? "" : String(v));
    }
    for (const c of children || []) if (c) node.appendChild(typeof c === "string" ? document.createTextNode(c) : c);
    return node;
  }
  function fieldLabel(name) { return LABELS.fields[name] || name; }
  function kindLabel(kind) { return LABELS.kinds[kind] || kind; }
  function fieldsOf(kind) { return (KINDS[kind] || { fields: [] }).fields; }
  function hasField(kind, name) { return fieldsOf(kind).some(f => f.name === name); }
  function getPath(obj, path) { return path.split(".").reduce((o, p) => (o == null ? undefined : o[p]), obj); }
  function setPath(obj, path, value) {
    const parts = path.split(".");
    let o = obj;
    for (let i = 0; i < parts.length - 1; i++) o = o[parts[i]];
    o[parts[parts.length - 1]] = value;
  }

  // ---------------------------------------------------------------- the flow model (our JSON)

  // The branches leaving a node, in the order its output ports are drawn: [{path, label}].
  function ports(node) {
    const out = [];
    if (node.kind === "menu") (node.options || []).forEach((o, i) => out.push({ path: "options." + i + ".next", label: T.key + " " + o.digit }));
    if (node.kind === "condition") (node.rules || []).forEach((r, i) => out.push({ path: "rules." + i + ".next", label: T.rule + " " + (i + 1) }));
    for (const f of TARGET_FIELDS) if (hasField(node.kind, f)) out.push({ path: f, label: fieldLabel(f) });
    return out;
  }

  // A new node of `kind` with the model's defaults, so the side panel shows real values.
  function newNode(kind, id) {
    const node = { id: id, kind: kind };
    for (const f of fieldsOf(kind)) {
      if (f.name === "id") continue;
      node[f.name] = "default" in f ? JSON.parse(JSON.stringify(f.default)) : (f.type === "list" ? [] : "");
    }
    return node;
  }
  function newItem(spec) {
    const item = {};
    for (const f of spec.item) item[f.name] = "default" in f ? f.default : (f.type === "enum" ? f.choices[0] : "");
    return item;
  }
  function freeId(flow, kind) {
    const ids = new Set(flow.nodes.map(n => n.id));
    let i = 1;
    while (ids.has(kind + "_" + i)) i++;
    return kind + "_" + i;
  }
  function targetsOf(node) { return ports(node).map(p => getPath(node, p.path)).filter(Boolean); }
  function renameRefs(flow, from, to) {
    for (const n of flow.nodes) for (const p of ports(n)) if (getPath(n, p.path) === from) setPath(n, p.path, to);
    if (flow.start === from) flow.start = to;
  }

  // Layered layout from the start node: used for nodes without a stored position.
  function autoLayout(flow) {
    const pos = {};
    const byId = Object.fromEntries(flow.nodes.map(n => [n.id, n]));
    const depth = {};
    const queue = flow.start && byId[flow.start] ? [flow.start] : [];
    if (queue.length) depth[flow.start] = 0;
    while (queue.length) {
      const id = queue.shift();
      for (const t of targetsOf(byId[id])) if (byId[t] && !(t in depth)) { depth[t] = depth[id] + 1; queue.push(t); }
    }
    let maxDepth = Math.max(0, ...Object.values(depth));
    const rows = {};
    for (const n of flow.nodes) {
      const d = n.id in depth ? depth[n.id] : ++maxDepth;
      rows[d] = (rows[d] || 0) + 1;
      pos[n.id] = [30 + d * 320, 20 + (rows[d] - 1) * 130];
    }
    return pos;
  }

  // ---------------------------------------------------------------- GraphView: the Drawflow adapter

  function GraphView(container, handlers, readOnly) {
    this.handlers = handlers;
    this.readOnly = readOnly;
    this.editor = new window.Drawflow(container);
    this.editor.reroute = false;
    if (readOnly) this.editor.editor_mode = "view";  // pan and zoom only: nothing moves, joins or goes
    this.editor.start();
    this.dfOf = {};
    this.idOf = {};
    this.building = false;
    const ed = this.editor;
    ed.on("connectionCreated", c => { if (!this.building) handlers.connect(this.idOf[c.output_id], portIndex(c.output_class), this.idOf[c.input_id]); });
    ed.on("connectionRemoved", c => { if (!this.building) handlers.disconnect(this.idOf[c.output_id], portIndex(c.output_class), this.idOf[c.input_id]); });
    ed.on("nodeRemoved", id => { if (!this.building) handlers.remove(this.idOf[id]); });
    ed.on("nodeSelected", id => { if (!this.building) handlers.select(this.idOf[id]); });
    ed.on("nodeMoved", () => handlers.moved());
  }
  function portIndex(cls) { return Number.parseInt(String(cls).split("_")[1], 10) - 1; }

  GraphView.prototype.draw = function (flow, positions, errors, selected) {
    this.building = true;
    try {
      this.editor.clear();
      this.dfOf = {}; this.idOf = {};
      flow.nodes.forEach((node, index) => {
        const p = ports(node);
        const at = positions[node.id] || [30, 30];
        const classes = "ivr-node kind-" + node.kind + (errors[index] ? " invalid" : "") + (node.id === selected ? " current" : "");
        const df = this.editor.addNode(node.kind, 1, p.length, at[0], at[1], classes, {}, "", false);
        this.dfOf[node.id] = df; this.idOf[df] = node.id;
        const box = document.getElementById("node-" + df);
        box.dataset.node = node.id;
        box.setAttribute("tabindex", "0");
        box.setAttribute("role", "button");
        box.setAttribute("aria-label", kindLabel(node.kind) + " " + node.id);
        if (this.readOnly) box.addEventListener("click", () => this.handlers.select(node.id));
        box.addEventListener("keydown", e => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); this.handlers.select(node.id, true); } });
        fillNode(box.querySelector(".drawflow_content_node"), node, flow, errors[index] || []);
        box.querySelectorAll(".outputs .output").forEach((out, i) => out.appendChild(el("span", { class: "port-label", text: p[i].label })));
      });
      for (const node of flow.nodes) {
        ports(node).forEach((p, i) => {
          const target = getPath(node, p.path);
          if (target && target in this.dfOf) this.editor.addConnection(this.dfOf[node.id], this.dfOf[target], "output_" + (i + 1), "input_1");
        });
      }
    } finally {
      this.building = false;
    }
  };
  // Read from the drawn nodes: Drawflow 0.0.60's own pos_x/pos_y are off by the last mouse step of a drag.
  GraphView.prototype.positions = function () {
    const out = {};
    for (const [id, df] of Object.entries(this.dfOf)) {
      const box = document.getElementById("node-" + df);
      if (box) out[id] = [box.offsetLeft, box.offsetTop];
    }
    return out;
  };
  // A point of the page as canvas coordinates (for a palette item dropped on the canvas).
  GraphView.prototype.toCanvas = function (clientX, clientY) {
    const rect = this.editor.precanvas.getBoundingClientRect();
    return [Math.round((clientX - rect.x) / this.editor.zoom), Math.round((clientY - rect.y) / this.editor.zoom)];
  };
  // Zoom out (to 70 % at most, so it stays legible) so the flow shows, its top left corner at the canvas's.
  GraphView.prototype.fit = function () {
    const ed = this.editor;
    const nodes = Object.values(ed.drawflow.drawflow[ed.module].data);
    if (!nodes.length) return;
    const w = ed.precanvas.clientWidth; const h = ed.precanvas.clientHeight;
    const right = Math.max(...nodes.map(n => n.pos_x)) + 340; const bottom = Math.max(...nodes.map(n => n.pos_y)) + 170;
    const z = Math.max(0.7, Math.min(1, w / right, h / bottom));
    ed.zoom = z; ed.zoom_last_value = z;
    ed.canvas_x = (w / 2) * (z - 1); ed.canvas_y = (h / 2) * (z - 1);
    ed.zoom_refresh();
  };
  GraphView.prototype.zoom = function (inOut) { if (inOut > 0) this.editor.zoom_in(); else this.editor.zoom_out(); };

  function summary(node) {
    const key = { queue: "queue", voicemail: "box", extension: "extension", external: "number", goto_flow: "flow",
      collect: "variable", set_variable: "variable", http: "url" }[node.kind];
    if (key) return node[key] || "";
    return node.prompt || node.tts || node.say_digits || "";
  }
  function fillNode(content, node, flow, errors) {
    content.replaceChildren(...[
      el("div", { class: "node-head" }, [
        el("span", { class: "node-kind", text: kindLabel(node.kind) }),
        node.id === flow.start ? el("span", { class: "node-start", text: T.start }) : null,
      ]),
      el("div", { class: "node-id", text: node.id }),
      el("div", { class: "node-sum", text: summary(node) }),
      errors.length ? el("ul", { class: "node-errors" }, errors.map(e => el("li", { text: messageOf(e) }))) : null,
    ].filter(Boolean));
  }

  // ---------------------------------------------------------------- the page

  const blank = { name: "", title: "", start: "", nodes: [] };
  const state = {
    flow: DATA.flow ? JSON.parse(JSON.stringify(DATA.flow)) : blank,
    exists: !!DATA.flow,
    positions: {},
    errors: {},         // node index -> [field error] from the last publish
    flowErrors: [],     // errors about the flow itself (name, start, ...)
    selected: null,
    prompts: [],
    dirty: false,
  };
  // Node positions: the model has no place for them (yet), so they are kept in this browser per flow; should
  // the Flow gain a `layout` list of {node, x, y}, they are read from and saved with the flow instead.
  const FLOW_LAYOUT = (DATA.flow_fields || []).includes("layout");
  try {
    const saved = state.exists && JSON.parse(window.localStorage.getItem(LAYOUT_KEY + state.flow.name) || "null");
    if (saved && typeof saved === "object") state.positions = saved;
  } catch (e) { state.positions = {}; }
  if (FLOW_LAYOUT && Array.isArray(state.flow.layout)) for (const p of state.flow.layout) state.positions[p.node] = [p.x, p.y];
  const auto = autoLayout(state.flow);
  for (const n of state.flow.nodes) if (!state.positions[n.id]) state.positions[n.id] = auto[n.id];
  state.selected = state.flow.start || (state.flow.nodes[0] && state.flow.nodes[0].id) || null;

  const view = new GraphView($("ivr-canvas"), {
    connect(from, port, to) {
      const node = nodeById(from); const p = node && ports(node)[port];
      if (!p) return;
      setPath(node, p.path, to);
      changed(); setTimeout(redraw, 0);  // after Drawflow has finished its own mouse-up work
    },
    disconnect(from, port, to) {
      const node = nodeById(from); const p = node && ports(node)[port];
      if (p && getPath(node, p.path) === to) { setPath(node, p.path, ""); changed(); setTimeout(() => { redraw(); panel(); }, 0); }
    },
    remove(id) { setTimeout(() => removeNode(id), 0); },
    select(id, focus) { state.selected = id; panel(focus); markCurrent(); },
    moved() { state.positions = view.positions(); },
  }, !DATA.can_write);

  function nodeById(id) { return state.flow.nodes.find(n => n.id === id); }
  function changed() { state.dirty = true; $("ivr-status").textContent = T.unsaved; }
  function redraw() {
    if (Object.keys(view.dfOf).length) state.positions = Object.assign(state.positions, view.positions());
    view.draw(state.flow, state.positions, state.errors, state.selected);
    startOptions();
    pickOptions();
  }
  function markCurrent() {
    for (const box of document.querySelectorAll(".ivr-node")) box.classList.toggle("current", box.dataset.node === state.selected);
  }
  function removeNode(id) {
    const index = state.flow.nodes.findIndex(n => n.id === id);
    if (index < 0) return;
    state.flow.nodes.splice(index, 1);
    renameRefs(state.flow, id, "");
    if (!state.flow.start && state.flow.nodes.length) state.flow.start = state.flow.nodes[0].id;
    delete state.positions[id];
    state.errors = {};
    if (state.selected === id) state.selected = null;
    changed(); redraw(); panel();
  }
  function addNode(kind, at) {
    const id = freeId(state.flow, kind);
    state.flow.nodes.push(newNode(kind, id));
    if (!state.flow.start) state.flow.start = id;
    state.positions[id] = at || freeSpot();
    state.selected = id;
    changed(); redraw(); panel(true);
  }
  function freeSpot() {
    const taken = Object.values(state.positions);
    for (let y = 20; ; y += 130) for (let x = 30; x < 1100; x += 320) {
      if (!taken.some(p => Math.abs(p[0] - x) < 200 && Math.abs(p[1] - y) < 110)) return [x, y];
    }
  }

  // ---- flow settings bar
  function startOptions() {
    const select = $("flow-start");
    select.replaceChildren(...state.flow.nodes.map(n => el("option", { value: n.id, text: n.id, selected: n.id === state.flow.start })));
  }
  function pickOptions() {
    const select = $("node-pick");
    select.replaceChildren(el("option", { value: "", text: T.none }),
      ...state.flow.nodes.map(n => el("option", { value: n.id, text: n.id + " · " + kindLabel(n.kind), selected: n.id === state.selected })));
  }
  $("flow-title").addEventListener("change", e => { state.flow.title = e.target.value; changed(); });
  $("flow-name").addEventListener("change", e => { state.flow.name = e.target.value.trim(); changed(); });
  $("flow-start").addEventListener("change", e => { state.flow.start = e.target.value; changed(); redraw(); });
  $("node-pick").addEventListener("change", e => { state.selected = e.target.value || null; panel(); markCurrent(); });

  // ---- side panel: a form for the selected node's fields, built from the model's description
  function controlFor(spec, value, path, node) {
    const id = "nf-" + path.replace(/\./g, "-");
    const name = spec.name;
    let control;
    const options = (values, current, optional) => {
      const list = values.slice();
      if (current && !list.includes(current)) list.unshift(current);
      const opts = list.map(v => el("option", { value: v, text: typeof v === "object" ? v.text : v, selected: v === current }));
      if (optional) opts.unshift(el("option", { value: "", text: T.none, selected: !current }));
      return opts;
    };
    if (TARGET_FIELDS.includes(name)) {
      control = el("select", { id: id }, options(state.flow.nodes.map(n => n.id), value, true));
    } else if (/(^|_)prompt$/.test(name)) {
      control = el("select", { id: id }, options([...new Set(state.prompts.map(p => p.name))].sort(), value, true));
    } else if (name in CHOICE_FIELDS && node) {
      control = el("select", { id: id }, options(CHOICES[CHOICE_FIELDS[name]] || [], value, !spec.required));
    } else if (spec.type === "enum") {
      control = el("select", { id: id }, options(spec.choices, value, false));
      // the stored codes stay the option values; the reader sees them in their language
      for (const o of control.options) o.textContent = (LABELS.choices || {})[o.value] || o.value;
    } else if (spec.type === "bool") {
      control = el("input", { id: id, type: "checkbox", checked: !!value });
    } else if (spec.type === "int" || spec.type === "float") {
      control = el("input", { id: id, type: "number", step: spec.type === "int" ? "1" : "any", value: value });
    } else {
      // a rule's name is a variable, or for a time period the schedule: offer the schedules, allow any text
      const list = name === "name" && path.startsWith("rules.") ? "ivr-schedules" : null;
      control = el("input", { id: id, type: "text", value: value == null ? "" : value, list: list,
        maxlength: name === "digit" ? 1 : null });
    }
    control.dataset.path = path;
    control.dataset.type = spec.type;
    control.setAttribute("aria-describedby", id + "-error");
    const label = el("label", { for: id, text: fieldLabel(name) });
    const box = el("div", { class: "field" + (spec.type === "bool" ? " check" : ""), "data-field": path },
      spec.type === "bool" ? [control, label] : [label, control]);
    if (/(^|_)prompt$/.test(name)) {
      box.classList.add("with-play");
      box.appendChild(el("button", { type: "button", class: "secondary", "data-play": id, text: T.play,
        "aria-label": T.play + ": " + fieldLabel(name) }));
    }
    box.appendChild(el("p", { class: "error", id: id + "-error" }));
    return box;
  }

  document.body.appendChild(el("datalist", { id: "ivr-schedules" }, (CHOICES.schedule || []).map(v => el("option", { value: v }))));

  function panel(focus) {
    const form = $("node-form");
    const node = nodeById(state.selected);
    pickOptions();
    if (!node) { form.replaceChildren(el("p", { class: "hint", text: T.pickNode })); return; }
    const index = state.flow.nodes.indexOf(node);
    const parts = [el("h3", { text: kindLabel(node.kind) + " · " + node.id })];
    parts.push(el("div", { class: "form-error", role: "alert" }));
    for (const spec of fieldsOf(node.kind)) {
      if (spec.type === "list") {
        const items = node[spec.name] || [];
        const set = el("fieldset", { class: "group", "data-field": spec.name }, [el("legend", { text: fieldLabel(spec.name) })]);
        items.forEach((item, i) => {
          const row = el("div", { class: "item-row", "data-field": spec.name + "." + i });
          for (const sub of spec.item) row.appendChild(controlFor(sub, item[sub.name], spec.name + "." + i + "." + sub.name, node));
          row.appendChild(el("button", { type: "button", class: "secondary", "data-remove": spec.name + "." + i,
            "aria-label": T.remove + " " + fieldLabel(spec.name) + " " + (i + 1), text: T.remove }));
          set.appendChild(row);
        });
        set.appendChild(el("button", { type: "button", class: "secondary", "data-add": spec.name, text: T.add + " · " + fieldLabel(spec.name) }));
        set.appendChild(el("p", { class: "error", id: "nf-" + spec.name + "-error" }));
        parts.push(set);
      } else {
        parts.push(controlFor(spec, node[spec.name], spec.name, node));
      }
    }
    const actions = el("div", { class: "actions" }, DATA.can_write ? [
      node.id !== state.flow.start ? el("button", { type: "button", class: "secondary", "data-start": "1", text: T.makeStart }) : null,
      el("button", { type: "button", class: "danger", "data-delete-node": "1", text: T.deleteNode }),
    ] : []);
    parts.push(actions);
    form.replaceChildren(...parts);
    if (!DATA.can_write) for (const c of form.querySelectorAll("input, select, button")) c.disabled = true;
    showPanelErrors(state.errors[index] || []);
    if (focus) { const first = form.querySelector("input, select"); if (first) first.focus(); }
  }

  function showPanelErrors(errors) {
    const form = $("node-form");
    const top = form.querySelector(".form-error");
    const loose = [];
    for (const e of errors) {
      let path = e.local; let box = null;
      while (path) {
        box = form.querySelector('[data-field="' + CSS.escape(path) + '"]');
        if (box) break;
        path = path.includes(".") ? path.slice(0, path.lastIndexOf(".")) : "";
      }
      const slot = box && box.querySelector(":scope > .error");
      if (!slot) { loose.push(messageOf(e)); continue; }
      slot.textContent = (slot.textContent ? slot.textContent + " " : "") + messageOf(e);
      const control = box.querySelector(":scope > input, :scope > select");
      if (control) control.setAttribute("aria-invalid", "true");
    }
    if (top) top.textContent = loose.join(" ");
  }

  function readControl(c) {
    const type = c.dataset.type;
    if (type === "bool") return c.checked;
    if (type === "int" || type === "float") {
      const v = type === "int" ? Number.parseInt(c.value, 10) : Number.parseFloat(c.value);
      return Number.isNaN(v) ? undefined : v;
    }
    return c.value;
  }
  $("node-form").addEventListener("change", e => {
    const c = e.target; const node = nodeById(state.selected);
    if (!node || !c.dataset.path) return;
    const value = readControl(c);
    if (value === undefined) return;
    if (c.dataset.path === "id") {
      const id = String(value).trim();
      if (!id || nodeById(id)) { c.value = node.id; return; }
      renameRefs(state.flow, node.id, id);
      state.positions[id] = state.positions[node.id]; delete state.positions[node.id];
      node.id = id; state.selected = id;
      changed(); redraw(); panel(); $("nf-id").focus();
      return;
    }
    setPath(node, c.dataset.path, value);
    changed(); redraw();
  });
  $("node-form").addEventListener("click", e => {
    const node = nodeById(state.selected);
    if (!node) return;
    const add = e.target.closest("[data-add]"); const remove = e.target.closest("[data-remove]");
    if (add) {
      const spec = fieldsOf(node.kind).find(f => f.name === add.dataset.add);
      node[spec.name] = (node[spec.name] || []).concat([newItem(spec)]);
      changed(); redraw(); panel();
      const rows = $("node-form").querySelectorAll('[data-field^="' + spec.name + '."] input, [data-field^="' + spec.name + '."] select');
      if (rows.length) rows[rows.length - spec.item.length].focus();
    } else if (remove) {
      const [field, i] = remove.dataset.remove.split(".");
      node[field].splice(Number(i), 1);
      changed(); redraw(); panel();
    } else if (e.target.closest("[data-play]")) {
      const name = $(e.target.closest("[data-play]").dataset.play).value;
      const language = document.body.dataset.lang === "en" ? "en" : "zh-CN";
      if (name) playPrompt(language, name);
    } else if (e.target.closest("[data-start]")) {
      state.flow.start = node.id; changed(); redraw(); panel();
    } else if (e.target.closest("[data-delete-node]")) {
      removeNode(node.id); $("node-pick").focus();
    }
  });
  $("node-form").addEventListener("submit", e => e.preventDefault());

  // ---- palette: drag onto the canvas, or press a button
  document.querySelectorAll(".palette-item").forEach(b => {
    b.addEventListener("click", () => { addNode(b.dataset.kind); view.fit(); });
    b.addEventListener("dragstart", e => { e.dataTransfer.setData("text/plain", b.dataset.kind); e.dataTransfer.effectAllowed = "copy"; });
  });
  const canvas = $("ivr-canvas");
  canvas.addEventListener("dragover", e => e.preventDefault());
  canvas.addEventListener("drop", e => {
    e.preventDefault();
    const kind = e.dataTransfer.getData("text/plain");
    if (kind in KINDS && DATA.can_write) addNode(kind, view.toCanvas(e.clientX, e.clientY));
  });
  $("zoom-in").addEventListener("click", () => view.zoom(1));
  $("zoom-out").addEventListener("click", () => view.zoom(-1));
  $("ivr-layout").addEventListener("click", () => { view.dfOf = {}; state.positions = autoLayout(state.flow); redraw(); view.fit(); });

  // ---- publish: the API validates with the IVR's own rules; its errors go onto the nodes
  function placeErrors(fields, sentNodes) {
    state.errors = {}; state.flowErrors = [];
    for (const f of fields) {
      const m = /^nodes\.(\d+)(?:\.(.*))?$/.exec(f.field || "");
      if (m && sentNodes[Number(m[1])]) {
        const i = Number(m[1]);
        (state.errors[i] = state.errors[i] || []).push(Object.assign({}, f, { local: m[2] || "" }));
      } else {
        state.flowErrors.push(f);
      }
    }
  }
  function showFlowErrors() {
    for (const id of ["flow-name", "flow-title", "flow-start"]) { $(id + "-error").textContent = ""; $(id).removeAttribute("aria-invalid"); }
    const box = $("ivr-errors");
    box.replaceChildren();
    const loose = [];
    for (const f of state.flowErrors) {
      const slot = { name: "flow-name", title: "flow-title", start: "flow-start" }[(f.field || "").split(".")[0]];
      if (slot) { $(slot + "-error").textContent = messageOf(f); $(slot).setAttribute("aria-invalid", "true"); }
      else loose.push(messageOf(f));
    }
    const nodeErrors = Object.entries(state.errors);
    if (!loose.length && !nodeErrors.length && !state.flowErrors.length) return;
    box.appendChild(el("p", { text: T.notPublished }));
    const list = el("ul", { class: "plain" }, loose.map(m => el("li", { text: m })));
    for (const [i, errs] of nodeErrors) {
      const id = state.flow.nodes[Number(i)].id;
      for (const e of errs) {
        list.appendChild(el("li", {}, [el("button", { type: "button", class: "link", "data-goto": id, text: messageOf(e) })]));
      }
    }
    box.appendChild(list);
  }
  $("ivr-errors").addEventListener("click", e => {
    const b = e.target.closest("[data-goto]");
    if (b) { state.selected = b.dataset.goto; markCurrent(); panel(true); }
  });

  function flowBody() {
    const body = { name: state.flow.name, title: state.flow.title || "", start: state.flow.start, nodes: state.flow.nodes };
    for (const [k, v] of Object.entries(state.flow)) if (!(k in body) && k !== "version") body[k] = v;
    if (FLOW_LAYOUT) body.layout = Object.entries(view.positions()).map(([node, p]) => ({ node: node, x: p[0], y: p[1] }));
    return body;
  }
  function rememberLayout() {
    try { window.localStorage.setItem(LAYOUT_KEY + state.flow.name, JSON.stringify(view.positions())); } catch (e) { /* private mode */ }
  }
  async function publish() {
    const button = $("ivr-publish");
    button.disabled = true;
    $("ivr-status").textContent = "";
    const body = flowBody();
    const sent = body.nodes.slice();
    try {
      const url = state.exists ? "/api/v1/ivr_flows/" + encodeURIComponent(state.flow.name) : "/api/v1/ivr_flows";
      const result = await callApi(state.exists ? "PUT" : "POST", url, body);
      if (result.ok) {
        state.errors = {}; state.flowErrors = [];
        state.flow = result.data; state.exists = true; state.dirty = false;
        rememberLayout();
        $("flow-name").readOnly = true;
        $("flow-version").textContent = T.version + " " + result.data.version;
        const here = "/admin/ivr/" + encodeURIComponent(state.flow.name);
        if (window.location.pathname !== here) window.history.replaceState(null, "", here);
        $("ivr-status").textContent = T.published.replace("{n}", result.data.version);
      } else {
        const data = result.data || {};
        const fields = (data.details && data.details.fields) || [];
        placeErrors(fields.length ? fields : [{ field: "", message: messageOf(data) || data.message, message_zh: data.message_zh }], sent);
      }
    } catch (e) {
      placeErrors([{ field: "", message: document.getElementById("i18n").dataset.failed, message_zh: document.getElementById("i18n").dataset.failed }], sent);
    } finally {
      button.disabled = false;
    }
    redraw(); panel(); showFlowErrors();
    if (Object.keys(state.errors).length || state.flowErrors.length) $("ivr-errors").focus();
  }
  if ($("ivr-publish")) $("ivr-publish").addEventListener("click", publish);
  window.addEventListener("beforeunload", e => { if (state.dirty) e.preventDefault(); });

  // ---- import and export of the flow JSON
  $("ivr-export").addEventListener("click", () => {
    const blob = new Blob([JSON.stringify(state.flow, null, 2) + "\n"], { type: "application/json" });
    const a = el("a", { href: URL.createObjectURL(blob), download: (state.flow.name || "flow") + ".json" });
    document.body.appendChild(a); a.click(); a.remove();
    setTimeout(() => URL.revokeObjectURL(a.href), 1000);
  });
  if ($("ivr-import")) $("ivr-import").addEventListener("change", async e => {
    const file = e.target.files[0];
    e.target.value = "";
    if (!file) return;
    let flow;
    try { flow = JSON.parse(await file.text()); } catch (err) { flow = null; }
    if (!flow || typeof flow !== "object" || !Array.isArray(flow.nodes) || flow.nodes.some(n => !n || !(n.kind in KINDS))) {
      $("ivr-status").textContent = T.badFile; return;
    }
    if (state.exists) flow.name = state.flow.name;  // a flow's name is its key: importing replaces this one
    state.flow = flow;
    $("flow-name").value = flow.name || ""; $("flow-title").value = flow.title || "";
    state.errors = {}; state.flowErrors = []; view.dfOf = {};
    state.positions = autoLayout(flow);
    if (FLOW_LAYOUT && Array.isArray(flow.layout)) for (const p of flow.layout) state.positions[p.node] = [p.x, p.y];
    state.selected = flow.start || null;
    changed(); redraw(); panel(); showFlowErrors();
    $("ivr-status").textContent = T.imported;
  });

  // ---- prompts: play, upload, preview text to speech
  const audio = $("prompt-audio");
  async function loadPrompts(pick) {
    const result = await callApi("GET", "/api/v1/prompts");
    state.prompts = result.ok ? result.data.items : [];
    const select = $("prompt-pick");
    select.replaceChildren(...state.prompts.map(p => {
      const v = p.language + "/" + p.name;
      return el("option", { value: v, text: p.name + " (" + p.language + ", " + p.source + ")", selected: v === pick });
    }));
    panel();
  }
  function play(url) { audio.src = url; audio.load(); audio.play().catch(() => {}); }
  // The prompt store falls back to the other language when a prompt has no recording in this one.
  function playPrompt(language, name) {
    play("/api/v1/prompts/" + encodeURIComponent(language) + "/" + encodeURIComponent(name) + "/audio");
  }
  $("prompt-play").addEventListener("click", () => {
    const v = $("prompt-pick").value;
    if (!v) return;
    const [language, name] = v.split("/");
    playPrompt(language, name);
  });
  if ($("prompt-upload")) $("prompt-upload").addEventListener("submit", async e => {
    e.preventDefault();
    const name = $("upload-name").value.trim(); const language = $("upload-language").value;
    const file = $("upload-file").files[0];
    const slot = $("upload-error");
    slot.textContent = "";
    const response = await fetch("/api/v1/prompts/" + encodeURIComponent(language) + "/" + encodeURIComponent(name || "-"), {
      method: "PUT", credentials: "same-origin", body: file || new Blob([]),
      headers: { "Content-Type": "audio/wav", "Accept": "application/json", "X-CSRF-Token": csrfToken() },
    });
    let data = {};
    try { data = await response.json(); } catch (err) { data = {}; }
    if (!response.ok) {
      const fields = (data.details && data.details.fields) || [];
      slot.textContent = fields.length ? fields.map(messageOf).join(" ") : messageOf(data);
      return;
    }
    slot.textContent = "";
    $("ivr-status").textContent = T.uploaded;
    await loadPrompts(language + "/" + name);
    $("prompt-play").click();
  });
  $("tts-preview").addEventListener("submit", async e => {
    e.preventDefault();
    const text = $("tts-text").value.trim();
    const slot = $("tts-error");
    slot.textContent = "";
    const url = "/api/v1/prompts/tts?language=" + encodeURIComponent($("tts-language").value) + "&text=" + encodeURIComponent(text);
    const response = await fetch(url, { credentials: "same-origin", headers: { "Accept": "audio/wav, application/json" } });
    if (!response.ok) {
      let data = {};
      try { data = await response.json(); } catch (err) { data = {}; }
      const fields = (data.details && data.details.fields) || [];
      slot.textContent = fields.length ? fields.map(messageOf).join(" ") : messageOf(data);
      return;
    }
    if (audio.src.startsWith("blob:")) URL.revokeObjectURL(audio.src);
    play(URL.createObjectURL(await response.blob()));
  });

  // Drawflow needs the canvas laid out before it draws.
  redraw();
  view.fit();
  panel();
  loadPrompts("");
});
