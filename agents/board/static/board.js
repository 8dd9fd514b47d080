// chatwatch board: polls the JSON twins (each panel POLL_MS after its previous answer) and
// counts waiting times up between polls. Every time shown is the shop's own (its time zone
// is named in the header), on the worker's clock, never the browser's.
// No build step, no dependencies: served as is from the Python package.
"use strict";
(function () {
  const POLL_MS = 1500;
  const params = new URLSearchParams(location.search);
  const state = { shop: params.get("shop") || "", ref: params.get("ref") || "",
                  severity: params.has("severity") ? params.get("severity") : "critical,warning",
                  offset: 0, waits: [], shops: [], zones: [], scrolled: false };
  const $ = (id) => document.getElementById(id);
  const SEVERITY_RANK = { critical: 0, warning: 1, info: 2 };
  const SEVERITY_TEXT = { critical: "严重 critical", warning: "警告 warning", info: "提示 info" };

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

  const formats = {};
  // "10:32:05" in time zone `tz` (the shop's); the zone is named once, in the header
  function clock(ms, tz) {
    let f = formats[tz];
    if (!f) {
      f = formats[tz] = new Intl.DateTimeFormat("en-GB", { timeZone: tz || "UTC",
        hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23" });
    }
    return f.format(new Date(ms));
  }
  // A time of a row: its shop's clock, with the zone when the board shows several zones
  function shopTime(ms, tz) {
    return clock(ms, tz) + (state.zones.length > 1 ? " " + tz : "");
  }

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
    state.zones = [...new Set(summary.shops.map((s) => s.timezone))].sort();
  }

  // How the platform will judge a KPI (DOMAIN.md §3 "Platform score"): the rolling score,
  // the gate, how many more units may breach today and over the window, the forecast.
  function scoreLine(k) {
    const line = document.createElement("div");
    line.className = "score";
    line.dataset.scoreOf = k.name;  // not data-kpi: that names the row of today's rate
    line.dataset.score = k.score === null ? "" : k.score;
    line.dataset.scoreDays = k.score_days;
    line.dataset.gate = k.gate || "none";
    line.dataset.budget = k.budget;
    line.dataset.scoreBudget = k.score_budget;
    line.dataset.forecast = k.forecast_rate === null || k.forecast_rate === undefined ? "" : k.forecast_rate;
    const part = (cls, text, title) => {
      const span = document.createElement("span");
      span.className = cls;
      span.textContent = text;
      if (title) span.title = title;
      line.appendChild(span);
    };
    const scoreBelow = k.score !== null && k.score < k.target;
    part("score-value " + (k.score === null ? "" : scoreBelow ? "below" : "ok"),
         (k.score_days === 1 ? "今日评分" : k.score_days + "日评分") + " score " + pct(k.score),
         (k.window_units - k.window_breached) + "/" + k.window_units + " over " + k.score_days +
         " day(s), today included");
    if (k.gate) {
      const ok = k.gate === "ok";
      part("gate " + (ok ? "ok" : "failed"),
           "门槛 gate " + (ok ? "✓ ok" : "✗ failed"),
           "every one of the last " + k.gate_days + " days ≥ " + pct(k.gate_min_rate) +
           " (today so far included)");
    }
    part("budget" + (k.budget === 0 ? " none" : ""), "今日可超时 budget " + k.budget,
         "more of today's units that may breach before today's rate falls below target");
    if (k.score_days > 1) {
      part("budget" + (k.score_budget === 0 ? " none" : ""), "评分可超时 " + k.score_budget,
           "more units that may breach before the " + k.score_days + "-day score falls below target");
    }
    part("forecast", "预计 forecast " + pct(k.forecast_rate),
         "projected end-of-day rate: expected units " + Math.round(k.forecast_units || 0) +
         " from " + (k.forecast_history_days || 0) + " earlier day(s)");
    return line;
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
        label.textContent = k.label;
        label.title = k.name;
        const value = document.createElement("span");
        value.className = "value";
        value.textContent = pct(k.value);
        const detail = document.createElement("span");
        detail.className = "muted";
        detail.textContent = "target " + pct(k.target) + " · " + (k.units - k.breached) + "/" + k.units;
        row.append(label, value, detail);
        card.appendChild(row);
        if (k.score_days !== undefined) card.appendChild(scoreLine(k));
      }
      const waits = document.createElement("div");
      waits.className = "muted";
      waits.textContent = "等待 waiting " + s.waiting + " · 已超时 breached " + s.breached_waits +
        " · 临近超时 at risk " + s.at_risk_waits + " · 最久 oldest " + secs(s.oldest_wait_seconds);
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

  // A buyer every KPI of whom is lost and a window ran out: marked breached, with how long over
  function over(w) { return w.breached && !w.saveable; }
  function status(w) {
    if (w.saveable) return "可挽回 saveable" + (w.lost.length ? " · 已失 lost " + w.lost.join("、") : "");
    if (w.breached) return "已超时 breached · 失去 lost " + (w.lost.join("、") || "–");
    if (w.lost.length) return "今日已失 lost today · " + w.lost.join("、");
    return "不计入 not counted";
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
      tr.dataset.deadline = w.next_deadline_ms;
      tr.dataset.saveable = w.saveable ? "1" : "";
      if (over(w)) {
        tr.dataset.over = data.now_ms - w.over_seconds * 1000;  // when the first window ran out
        tr.classList.add("breached");
      } else if (!w.saveable) {
        tr.classList.add("unsaveable");
      }
      if (w.ref === state.ref) tr.classList.add("picked");
      cell(tr, w.shop_id); cell(tr, w.ref); cell(tr, w.agent);
      cell(tr, shopTime(w.start_ms, w.timezone), "since");
      cell(tr, "", "age"); cell(tr, "", "left"); cell(tr, status(w), "status");
      body.appendChild(tr);
    }
    tick();
    const picked = body.querySelector("tr.picked");
    if (picked && !state.scrolled) {
      state.scrolled = true;
      picked.scrollIntoView({ block: "center" });
    }
  }

  function tick() {
    const now = nowMs();
    for (const tr of $("waits").tBodies[0].rows) {
      const age = now - Number(tr.dataset.start);
      tr.querySelector(".age").textContent = secs(age / 1000);
      const left = tr.querySelector(".left");
      if (tr.dataset.over) {
        left.textContent = "超时 over " + secs((now - Number(tr.dataset.over)) / 1000);
      } else {
        const ms = Number(tr.dataset.deadline) - now;
        left.textContent = ms < 0 ? "超时 over " + secs(-ms / 1000) : secs(ms / 1000);
        tr.classList.toggle("breached", ms < 0 && tr.dataset.saveable === "1");
        tr.classList.toggle("at-risk", ms >= 0 && tr.dataset.saveable === "1" &&
                            age >= Number(tr.dataset.risk));
      }
    }
    const zones = state.zones.length ? state.zones : ["UTC"];
    $("clock").textContent = "店铺时间 shop time " +
      zones.map((z) => clock(now, z) + " " + z).join(" · ");
  }

  function renderPicked(data) {
    const box = $("picked");
    box.hidden = false;
    box.replaceChildren();
    const head = document.createElement("strong");
    head.textContent = "会话 conversation " + data.ref + (data.shop_id ? " · " + data.shop_id : "");
    box.appendChild(head);
    const text = document.createElement("span");
    box.dataset.status = data.found ? data.status : "missing";
    if (!data.found) {
      text.textContent = " · 未找到：会话已过保留期或不在此看板 not found (evicted, or another board)";
    } else if (data.waiting) {
      const w = data.waiting;
      text.textContent = " · 等待中 waiting since " + shopTime(w.start_ms, w.timezone) + " · " +
        status(w) + (over(w) ? " · 超时 over " + secs(w.over_seconds) : "");
      box.dataset.breached = over(w) ? "1" : "";
    } else {
      const kpis = data.kpis.filter((k) => k.breached).map((k) => k.label);
      text.textContent = " · 已回复，买家不再等待 answered, not waiting · 最后消息 last message " +
        data.last_event.slice(11, 19) + " " + data.timezone + "（客服 " + data.last_agent + "）· " +
        data.day + "：等待 " + data.waits + " 次，超时 " + data.breached + " 次，回复 " +
        data.responses + " 次" + (kpis.length ? " · 失去 lost " + kpis.join("、") : "");
    }
    box.appendChild(text);
    for (const tr of $("waits").tBodies[0].rows) tr.classList.toggle("picked", tr.dataset.ref === state.ref);
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
    // critical first, then newest first by event time (the order the answer has)
    const items = data.violations.map((v, i) => [v, i]);
    items.sort((a, b) => ((SEVERITY_RANK[a[0].severity] ?? 3) - (SEVERITY_RANK[b[0].severity] ?? 3)) ||
                         a[1] - b[1]);
    for (const [v] of items) {
      const tr = document.createElement("tr");
      tr.dataset.id = v.id;
      tr.dataset.severity = v.severity;
      cell(tr, (v.ts || "").slice(11, 19)); cell(tr, SEVERITY_TEXT[v.severity] || v.severity, "sev-" + v.severity);
      cell(tr, v.shop_id); cell(tr, v.agent);
      const cat = cell(tr, v.categories.join(", "), "sev-" + v.severity);
      if (v.how.length) cat.title = "发现方式 how: " + v.how.join(", ");
      cell(tr, v.text, "text");
      body.appendChild(tr);
    }
  }

  // One loop per panel: the next request of a panel goes out only once its previous one has
  // answered (or timed out, REQUEST_TIMEOUT_MS) and POLL_MS have passed, so a slow worker
  // never has two requests of the same panel in flight.
  const PANELS = {
    summary: { path: () => "api/summary", render(d) { renderShops(d); renderKpis(d); } },
    waits: { path: () => "api/waits?limit=200", render: renderWaits },
    agents: { path: () => "api/agents?limit=100", render: renderAgents },
    violations: { path: () => "api/violations?limit=30" +
                    (state.severity ? "&severity=" + encodeURIComponent(state.severity) : ""),
                  render: renderViolations },
  };
  if (state.ref) {
    PANELS.picked = { path: () => "api/conversation?ref=" + encodeURIComponent(state.ref),
                      render: renderPicked };
  }
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
      const data = await get(panel.path(), abort.signal);
      if (!dirty[name]) {  // an answer for the shop shown before the change is dropped
        state.offset = data.now_ms - Date.now();
        panel.render(data);
        $("updated").textContent = "";
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

  function remember(name, value) {
    const q = new URLSearchParams(location.search);
    if (value) q.set(name, value); else q.delete(name);
    q.delete("token");
    history.replaceState(null, "", "?" + q);
  }

  $("shop").addEventListener("change", (e) => {
    state.shop = e.target.value;
    remember("shop", state.shop);
    refreshAll();
  });
  $("severity").value = state.severity;
  $("severity").addEventListener("change", (e) => {
    state.severity = e.target.value;
    const q = new URLSearchParams(location.search);
    q.set("severity", state.severity);
    q.delete("token");
    history.replaceState(null, "", "?" + q);
    refresh("violations");
  });
  refreshAll();
  setInterval(tick, 250);
})();
