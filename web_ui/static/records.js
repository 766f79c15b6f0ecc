// Records pages: play a recording or message in the page's one <audio> (the server answers its Range
// requests, so seeking works), choose recordings for one zip, call a number back, mark voicemail handled.
// Uses app.js's callApi, messageOf and text (loaded on every page).
"use strict";

(function () {
  function words(key) { const t = document.getElementById("rec-i18n"); return t ? t.dataset[key] || "" : ""; }
  function say(id, message) { const el = document.getElementById(id); if (el) el.textContent = message; }

  function play(button) {
    const audio = document.getElementById("rec-audio");
    if (!audio) return;
    for (const other of document.querySelectorAll(".rec-play[aria-pressed]")) other.removeAttribute("aria-pressed");
    button.setAttribute("aria-pressed", "true");
    audio.src = button.dataset.play;
    say("rec-now", words("playing").replace("{what}", button.dataset.what || ""));
    audio.play().catch(() => { say("rec-now", words("failed")); });
  }

  async function dial(button) {
    const number = button.dataset.dial;
    button.disabled = true;
    try {
      const result = await callApi("POST", "/api/v1/calls", { number: number });
      say("rec-dial-status", result.ok ? words("calling").replace("{number}", number)
        : (messageOf(result.data || {}) || words("failed")));
    } catch (e) {
      say("rec-dial-status", words("failed"));
    } finally {
      button.disabled = false;
    }
  }

  async function handle(button) {
    const form = button.closest("form");
    const note = form ? form.querySelector("textarea[name=note]") : null;
    button.disabled = true;
    try {
      const result = await callApi("POST", button.dataset.handle, { note: note ? note.value : "" });
      if (result.ok) { window.location.assign(button.dataset.next || window.location.pathname); return; }
      const slot = form ? form.querySelector(".form-error") : null;
      if (slot) { slot.textContent = messageOf(result.data || {}) || words("failed"); slot.focus(); }
    } finally {
      button.disabled = false;
    }
  }

  document.addEventListener("click", event => {
    const target = event.target;
    if (!(target instanceof Element)) return;
    const playButton = target.closest("button[data-play]");
    if (playButton) { play(playButton); return; }
    const dialButton = target.closest("button[data-dial]");
    if (dialButton) { dial(dialButton); return; }
    const handleButton = target.closest("button[data-handle]");
    if (handleButton) handle(handleButton);
  });

  document.addEventListener("change", event => {
    const target = event.target;
    if (!(target instanceof HTMLInputElement) || !target.matches("[data-select-all]")) return;
    const form = target.closest("form");
    for (const box of form.querySelectorAll("input[name=call_id]")) box.checked = target.checked;
  });

  document.addEventListener("submit", event => {
    const form = event.target;
    if (!(form instanceof HTMLFormElement) || form.id !== "rec-batch") return;
    if (!form.querySelector("input[name=call_id]:checked")) {
      event.preventDefault();
      say("rec-batch-error", words("none"));
      const slot = document.getElementById("rec-batch-error");
      if (slot) slot.focus();
    } else {
      say("rec-batch-error", "");
    }
  });
})();
