// The prompts page: the list comes from the prompts API; a row's Play button plays the prompt's audio URL;
// an upload is sent as the request body to the API (which converts it); Delete uses app.js's data-delete.
"use strict";
// Deferred scripts run in order and this one comes before app.js: start once every one has run.
document.addEventListener("DOMContentLoaded", () => {
  const tables = document.querySelectorAll("table[data-prompts]");
  if (!tables.length) return;
  const t = document.getElementById("prompts-i18n").dataset;
  const canWrite = !!t.canWrite;
  const fill = (s, v) => s.replace(/\{(\w+)\}/g, (m, k) => (k in v ? String(v[k]) : m));
  const lang = zh() ? "zh-CN" : "en";

  function cell(tag, text) { const el = document.createElement(tag); if (text !== undefined) el.textContent = text; return el; }

  function row(p) {
    const tr = document.createElement("tr");
    tr.dataset.name = p.name;
    const name = cell("th", p.name);
    name.scope = "row";
    const seconds = Number(p.duration).toLocaleString(lang, { maximumFractionDigits: 1 });
    const play = cell("td");
    const audio = document.createElement("audio");
    audio.preload = "none";
    audio.src = "/api/v1/prompts/" + encodeURIComponent(p.language) + "/" + encodeURIComponent(p.name) + "/audio";
    audio.dataset.prompt = p.name;
    const button = cell("button", t.play);
    button.type = "button";
    button.className = "secondary";
    button.setAttribute("aria-label", fill(t.playLabel, { name: p.name }));
    button.addEventListener("click", () => {
      if (audio.paused) { audio.currentTime = 0; audio.play().catch(() => {}); } else { audio.pause(); }
    });
    audio.addEventListener("play", () => { button.textContent = t.stop; });
    const reset = () => { button.textContent = t.play; };
    audio.addEventListener("pause", reset);
    audio.addEventListener("ended", reset);
    play.append(button, audio);
    tr.append(name, cell("td", p.source === "upload" ? t.upload : t.default), cell("td", fill(t.seconds, { s: seconds })), play);
    if (canWrite) {
      const actions = cell("td");
      if (p.source === "upload") {
        const del = cell("button", t.delete);
        del.type = "button";
        del.className = "danger";
        del.dataset.delete = "/api/v1/prompts/" + encodeURIComponent(p.language) + "/" + encodeURIComponent(p.name);
        del.dataset.name = p.name + " (" + p.language + ")";
        del.dataset.next = "/admin/prompts";
        del.setAttribute("aria-label", fill(t.deleteLabel, { name: p.name }));
        actions.append(del);
      }
      tr.append(actions);
    }
    return tr;
  }

  async function load() {
    const result = await callApi("GET", "/api/v1/prompts");
    const items = (result.ok && result.data && result.data.items) || [];
    for (const table of tables) {
      const body = table.querySelector("tbody");
      const mine = items.filter(p => p.language === table.dataset.prompts).sort((a, b) => a.name.localeCompare(b.name));
      body.replaceChildren(...mine.map(row));
      if (!mine.length) {
        const empty = cell("td", result.ok ? t.none : t.failed);
        empty.colSpan = canWrite ? 5 : 4;
        empty.className = "empty";
        const tr = document.createElement("tr");
        tr.append(empty);
        body.append(tr);
      }
    }
  }

  const form = document.getElementById("prompt-upload");
  if (form) {
    form.addEventListener("submit", async event => {
      event.preventDefault();
      clearErrors(form);
      const saved = document.getElementById("p-saved");
      saved.textContent = "";
      const name = form.querySelector("[name=name]").value.trim();
      const language = form.querySelector("[name=language]").value;
      const input = form.querySelector("input[type=file]");
      const file = input.files && input.files[0];
      if (!file) { showErrors(form, [{ field: "file", message: t.choose, message_zh: t.choose }], ""); return; }
      const button = form.querySelector("button[type=submit]");
      button.disabled = true;
      try {
        const response = await fetch("/api/v1/prompts/" + encodeURIComponent(language) + "/" + encodeURIComponent(name || "-"), {
          method: "PUT", body: file, credentials: "same-origin",
          headers: { "Accept": "application/json", "Content-Type": file.type || "audio/wav", "X-CSRF-Token": csrfToken() },
        });
        let data = null;
        try { data = await response.json(); } catch (e) { data = null; }
        if (response.ok) {
          form.reset();
          saved.textContent = fill(t.saved, { name: name });
          await load();
          return;
        }
        const fields = (data && data.details && data.details.fields) || [];
        showErrors(form, fields, fields.length ? "" : (messageOf(data || {}) || t.failed));
      } catch (e) {
        showErrors(form, [], t.failed);
      } finally {
        button.disabled = false;
      }
    });
  }
  const tts = document.getElementById("tts-preview");
  if (tts) {
    tts.addEventListener("submit", event => {
      event.preventDefault();
      clearErrors(tts);
      const text = tts.querySelector("[name=text]").value.trim();
      if (!text) { showErrors(tts, [{ field: "text", message: t.noText, message_zh: t.noText }], ""); return; }
      const audio = document.getElementById("tts-audio");
      audio.src = "/api/v1/prompts/tts?" + new URLSearchParams({ text: text, language: tts.querySelector("[name=language]").value });
      audio.play().catch(() => showErrors(tts, [], t.failed));
    });
  }
  load();
});
