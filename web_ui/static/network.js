// Network settings applied with the confirm-or-revert countdown (the wizard's network step and the network
// page). Reuses app.js's API call and field errors; a change the installer does not confirm from the new
// address comes back by itself on the box, and the countdown here only shows when.
"use strict";

(function () {
  function i18n(key) { const t = document.getElementById("network-i18n"); return t ? t.dataset[key] || "" : ""; }
  function lines(value) { return value.split(/\n|,/).map(s => s.trim()).filter(s => s.length > 0); }

  // The network page's row lists as the API's settings. VLAN rows name their port and are nested under it; an
  // error the API names by the nested place ("interfaces.0.vlans.1.id") goes back to the VLAN's own row.
  function fromRows(form) {
    const [body, errors] = collect(form);
    const trimmed = value => (value || "").trim();
    const interfaces = (body.interfaces || []).map(i => ({ name: trimmed(i.name), dhcp: !!i.dhcp,
      addresses: i.addresses || [], gateway: trimmed(i.gateway) || null, vlans: [] }));
    const places = {};
    (body.vlans || []).forEach((v, k) => {
      const n = interfaces.findIndex(i => i.name === trimmed(v.interface));
      if (n < 0) {
        errors.push({ field: "vlans." + k + ".interface", message: i18n("noSuchPort"), message_zh: i18n("noSuchPort") });
        return;
      }
      places["interfaces." + n + ".vlans." + interfaces[n].vlans.length] = "vlans." + k;
      interfaces[n].vlans.push({ id: v.id, dhcp: !!v.dhcp, addresses: v.addresses || [] });
    });
    const routes = (body.routes || []).map(r => ({ destination: trimmed(r.destination), gateway: trimmed(r.gateway),
      interface: trimmed(r.interface) }));
    return { settings: { interfaces: interfaces, dns: body.dns || [], routes: routes }, places: places, errors: errors };
  }

  function placed(fields, places) {
    return fields.map(f => {
      for (const [from, to] of Object.entries(places)) {
        if (f.field === from || (f.field || "").startsWith(from + ".")) return Object.assign({}, f, { field: to + f.field.slice(from.length) });
      }
      return f;
    });
  }

  // The wizard's one port: its simple fields.
  function fromPort(form) {
    const value = name => (form.querySelector("[name=" + name + "]") || { value: "" }).value.trim();
    const dhcp = value("mode") === "dhcp";
    const address = value("address");
    return { settings: {
      interfaces: [{ name: value("name"), dhcp: dhcp, addresses: !dhcp && address ? [address] : [],
                     gateway: !dhcp && value("gateway") ? value("gateway") : null, vlans: [] }],
      dns: lines(value("dns")),
    }, places: {}, errors: [] };
  }

  let timer = null;
  let deadline = 0;

  function panel() { return document.getElementById("network-pending"); }

  function finish(message) {
    if (timer) { clearInterval(timer); timer = null; }
    const p = panel();
    if (p) p.hidden = true;
    const result = document.getElementById("network-result");
    if (result) { result.textContent = message; result.focus(); }
  }

  async function poll(changeId) {
    const r = await callApi("GET", "/api/v1/network");
    if (!r.ok || !r.data) return;
    const pending = r.data.pending;
    if (!pending || pending.change_id !== changeId) finish(i18n("reverted"));
    else deadline = Date.now() + pending.seconds_left * 1000;
  }

  function tick() {
    const p = panel();
    if (!p) return;
    const left = Math.max(0, Math.round((deadline - Date.now()) / 1000));
    document.getElementById("network-seconds").textContent = String(left);
    if (left % 3 === 0 || left === 0) poll(p.dataset.changeId).catch(() => {});
  }

  function showPending(changeId, secondsLeft, newAddresses) {
    const p = panel();
    if (!p) return;
    p.dataset.changeId = changeId;
    p.hidden = false;
    deadline = Date.now() + secondsLeft * 1000;
    const where = document.getElementById("network-new-address");
    if (where) {
      where.textContent = "";
      const urls = newAddresses.filter(a => a).map(a => {
        const host = a.split("/")[0];
        return window.location.protocol + "//" + (host.includes(":") ? "[" + host + "]" : host) +
          (window.location.port ? ":" + window.location.port : "") + window.location.pathname;
      });
      if (urls.length) {
        where.append(i18n("openNew") + " ");
        for (const u of urls) { const a = document.createElement("a"); a.href = u; a.textContent = u; where.append(a, " "); }
      }
    }
    const result = document.getElementById("network-result");
    if (result) result.textContent = "";
    if (timer) clearInterval(timer);
    tick();
    timer = setInterval(tick, 1000);
    const keep = document.getElementById("network-confirm");
    if (keep) keep.focus();
  }

  async function apply(event) {
    const form = event.target.closest("form[data-network-apply]");
    if (!form) return;
    event.preventDefault();
    clearErrors(form);
    const read = form.querySelector("[data-rows]") ? fromRows(form) : fromPort(form);
    if (read.errors.length) { showErrors(form, read.errors, ""); return; }
    const settings = read.settings;
    const seconds = Number.parseFloat((form.querySelector("[name=confirm_seconds]") || { value: "90" }).value);
    const button = form.querySelector("button[type=submit]");
    if (button) button.disabled = true;
    try {
      const r = await callApi("POST", "/api/v1/network/apply", { settings: settings, confirm_seconds: seconds });
      if (r.ok) {
        const news = (settings.interfaces || []).flatMap(i => (i.addresses || []).concat(
          (i.vlans || []).flatMap(v => v.addresses || [])));
        showPending(r.data.change_id, r.data.seconds_left, news);
        return;
      }
      const data = r.data || {};
      const fields = (data.details && data.details.fields) || [];
      showErrors(form, placed(fields, read.places), fields.length ? "" : (messageOf(data) || i18n("failed")));
    } catch (e) {
      showErrors(form, [], i18n("failed"));
    } finally {
      if (button) button.disabled = false;
    }
  }

  async function decide(kind) {
    const p = panel();
    if (!p || !p.dataset.changeId) return;
    const r = await callApi("POST", "/api/v1/network/changes/" + encodeURIComponent(p.dataset.changeId) + "/" + kind, {});
    if (r.ok) { finish(i18n(kind === "confirm" ? "kept" : "revertedNow")); return; }
    const result = document.getElementById("network-result");
    if (result) { result.textContent = messageOf(r.data || {}) || i18n("failed"); result.focus(); }
  }

  // A port on DHCP has no address or gateway of its own to type.
  function showStatic(select) {
    const form = select.closest("form");
    for (const box of form.querySelectorAll("[data-static]")) box.hidden = select.value === "dhcp";
  }

  document.addEventListener("submit", apply);
  document.addEventListener("change", event => { if (event.target.matches("form[data-network-apply] [name=mode]")) showStatic(event.target); });
  document.addEventListener("click", event => {
    if (event.target.closest("#network-confirm")) decide("confirm");
    else if (event.target.closest("#network-revert")) decide("revert");
  });
  document.addEventListener("DOMContentLoaded", () => {
    for (const select of document.querySelectorAll("form[data-network-apply] [name=mode]")) showStatic(select);
    const p = panel();
    if (p && !p.hidden && p.dataset.changeId) showPending(p.dataset.changeId, Number.parseFloat(p.dataset.secondsLeft || "0"), []);
  });
})();
