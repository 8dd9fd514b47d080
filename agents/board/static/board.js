// chatwatch board: polls the JSON twins (each panel POLL_MS after its previous answer) and
// counts waiting times up between polls.
// No build step, no dependencies: served as is from the Python package.
"use strict";
(function () {
  const POLL_MS = 1500;
  const params = new URLSearchParams(location.search);
  const state = { shop: params.get("shop") || "", ref: params.get("ref") || "",
                  offset: 0, waits: [], shops: [] };
  const $ = (id) => document.getElementById(id);

  function cell(tr, text, cls) {
    const td = document.createElement("td");
    td.textContent = text;
    if (cls) td.className = cls;
    tr.appendChild(td);
    return td;
  }
  function pct(v) { return v === null || v === undefined ? "–" : (v * 100).toFixed(1) + "%"; }
  function secs(s) {
    const neg = s < 0; s = Math.abs(Math.floor(s));
    const m = Math.floor(s / 60), r = s % 60;
    return (neg ? "-" : "") + m + ":" + String(r).padStart(2, "0");
  }
  function nowMs() { return Date.now() + state.offset; }  // the server's (event-time) clock

  async function get(path, signal) {
    const q = new URLSearchParams();
    if (state.shop) q.set("shop", state.shop);
    const sep = path.includes("?") ? "&" : "?";
    const resp = await fetch(path + (q.toString() ? sep + q : ""),
                             { credentials: "same-origin", signal });
    if (!resp.ok) throw new Error(path + ": HTTP " + resp.status);
    return resp.json();
  }

  function renderShops(summary) {
    const select = $("shop");
    const names = summary.shops.map((s) => s.shop_id);
    if (names.join() !== state.shops.join()) {
      state.shops = names;
      select.replaceChildren(new Option("全部 all", ""));
      for (const n of names) select.appendChild(new Option(n, n));
      if (state.shop && !names.includes(state.shop)) select.appendChild(new Option(state.shop, state.shop));
    }
    select.value = state.shop;
  }

  function renderKpis(summary) {
    const box = $("kpis");
    box.replaceChildren();
    const notes = [];
    for (const s of summary.shops) {
      const card = document.createElement("div");
      card.className = "card";
      card.dataset.shop = s.shop_id;
      const h = document.createElement("h3");
      h.textContent = s.shop_id + " · " + s.platform + " · " + s.day;
      card.appendChild(h);
      for (const k of s.kpis) {
        const row = document.createElement("div");
        const below = k.value !== null && k.value < k.target;
        row.className = "kpi " + (k.value === null ? "" : below ? "below" : "ok");
        row.dataset.kpi = k.name;
        row.dataset.units = k.units;
        row.dataset.breached = k.breached;
        row.dataset.value = k.value === null ? "" : k.value;
        const label = document.createElement("span");
        label.textContent = k.label + " (" + k.name + ")";
        const value = document.createElement("span");
        value.className = "value";
        value.textContent = pct(k.value);
        const detail = document.createElement("span");
        detail.className = "muted";
        detail.textContent = "target " + pct(k.target) + " · " + (k.units - k.breached) + "/" + k.units;
        row.append(label, value, detail);
        card.appendChild(row);
      }
      const waits = document.createElement("div");
      waits.className = "muted";
      waits.textContent = "等待 open " + s.open_waits + " · 临近超时 at risk " + s.at_risk_waits +
        " · 最久 oldest " + secs(s.oldest_wait_seconds);
      card.appendChild(waits);
      box.appendChild(card);
      if (!s.counting.counting) notes.push(s.shop_id + ": " + s.counting.message);
    }
    const banner = $("notes");
    banner.hidden = notes.length === 0;
    banner.textContent = notes.join("\n");
    const down = (summary.workers || []).filter((w) => !w.ok);
    $("workers").hidden = down.length === 0;
    $("workers").textContent = down.map((w) => "worker down: " + w.url + " (" + w.error + ")").join(" · ");
  }

  function renderWaits(data) {
    state.waits = data.waits;
    $("waits-count").textContent = "(" + data.waits.length + " / " + data.total + ")";
    const body = $("waits").tBodies[0];
    body.replaceChildren();
    for (const w of data.waits) {
      const tr = document.createElement("tr");
      tr.dataset.ref = w.ref;
      tr.dataset.start = w.start_ms;
      tr.dataset.risk = w.at_risk_seconds * 1000;
      tr.dataset.deadline = w.deadlines[0].deadline_ms;
      if (w.ref === state.ref) tr.classList.add("picked");
      cell(tr, w.shop_id); cell(tr, w.ref); cell(tr, w.agent); cell(tr, w.start.slice(11, 19));
      cell(tr, "", "age"); cell(tr, "", "left"); cell(tr, w.counted ? "是 yes" : "否 no");
      body.appendChild(tr);
    }
    tick();
  }

  function tick() {
    const now = nowMs();
    for (const tr of $("waits").tBodies[0].rows) {
      const age = now - Number(tr.dataset.start);
      const left = Number(tr.dataset.deadline) - now;
      tr.querySelector(".age").textContent = secs(age / 1000);
      tr.querySelector(".left").textContent = secs(left / 1000);
      tr.classList.toggle("at-risk", age >= Number(tr.dataset.risk));
      tr.classList.toggle("breached", left < 0);
    }
  }

  function renderAgents(data) {
    const body = $("agents").tBodies[0];
    body.replaceChildren();
    for (const a of data.agents) {
      const tr = document.createElement("tr");
      tr.dataset.agent = a.agent;
      cell(tr, a.shop_id); cell(tr, a.agent); cell(tr, a.breaches);
      cell(tr, a.slow_replies === null ? "–" : a.slow_replies); cell(tr, a.violations);
      cell(tr, a.holding); cell(tr, a.at_risk);
      body.appendChild(tr);
    }
  }

  function renderViolations(data) {
    const body = $("violations").tBodies[0];
    body.replaceChildren();
    for (const v of data.violations) {
      const tr = document.createElement("tr");
      tr.dataset.id = v.id;
      cell(tr, (v.ts || "").slice(11, 19)); cell(tr, v.shop_id); cell(tr, v.agent);
      cell(tr, v.categories.join(", "), "sev-" + v.severity);
      cell(tr, v.how.length ? v.how.join(", ") : "–"); cell(tr, v.text, "text");
      body.appendChild(tr);
    }
  }

  // One loop per panel: the next request of a panel goes out only once its previous one has
  // answered (or timed out, REQUEST_TIMEOUT_MS) and POLL_MS have passed, so a slow worker
  // never has two requests of the same panel in flight.
  const PANELS = {
    summary: { path: "api/summary", render(d) { renderShops(d); renderKpis(d); } },
    waits: { path: "api/waits?limit=200", render: renderWaits },
    agents: { path: "api/agents?limit=100", render: renderAgents },
    violations: { path: "api/violations?limit=30", render: renderViolations },
  };
  const REQUEST_TIMEOUT_MS = 10000;
  const inFlight = {};  // panel -> true while its request is out
  const timers = {};    // panel -> the timer of its next request
  const dirty = {};     // panel -> the shop changed while its request was out

  async function refresh(name) {
    if (inFlight[name]) { dirty[name] = true; return; }
    clearTimeout(timers[name]);
    inFlight[name] = true;
    dirty[name] = false;
    const panel = PANELS[name];
    const abort = new AbortController();
    const timeout = setTimeout(() => abort.abort(), REQUEST_TIMEOUT_MS);
    try {
      const data = await get(panel.path, abort.signal);
      if (!dirty[name]) {  // an answer for the shop shown before the change is dropped
        state.offset = data.now_ms - Date.now();
        panel.render(data);
        $("updated").textContent = "updated " + new Date().toLocaleTimeString();
        document.body.dataset.loaded = "1";
      }
    } catch (err) {
      $("updated").textContent = "not answering: " + (err.name === "AbortError"
        ? name + ": no answer in " + REQUEST_TIMEOUT_MS / 1000 + " s" : err.message);
    } finally {
      clearTimeout(timeout);
      inFlight[name] = false;
      timers[name] = setTimeout(() => refresh(name), dirty[name] ? 0 : POLL_MS);
    }
  }

  function refreshAll() { for (const name in PANELS) refresh(name); }

  $("shop").addEventListener("change", (e) => {
    state.shop = e.target.value;
    const q = new URLSearchParams(location.search);
    if (state.shop) q.set("shop", state.shop); else q.delete("shop");
    q.delete("token");
    history.replaceState(null, "", "?" + q);
    refreshAll();
  });
  refreshAll();
  setInterval(tick, 250);
})();
