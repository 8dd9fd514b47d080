// chatwatch board, the lead's panels: orders awaiting payment (催付) and lost inquiries (询单流失).
// Polls /api/unpaid and /api/lost (agents/board/lead.py) like the other panels poll theirs;
// a click on an agent's row of the lost inquiries opens that agent's list (today's settled and
// yesterday's). Refs are masked; times are the shop's own (its time zone is in each row).
"use strict";
(function () {
  const POLL_MS = 3000;
  const params = new URLSearchParams(location.search);
  const state = { shop: params.get("shop") || "", agent: params.get("agent") || "",
                  agentShop: params.get("shop") || "" };
  const $ = (id) => document.getElementById(id);

  function section(id, title, head) {
    const s = document.createElement("section");
    s.className = "wide lead";
    s.id = id;
    const h = document.createElement("h2");
    h.textContent = title;
    const count = document.createElement("span");
    count.className = "muted count";
    h.append(" ", count);
    s.appendChild(h);
    const box = document.createElement("div");
    box.className = "scroll";
    for (const [tableId, columns] of head) {
      const t = document.createElement("table");
      t.id = tableId;
      const tr = document.createElement("tr");
      for (const c of columns) { const th = document.createElement("th"); th.textContent = c; tr.appendChild(th); }
      const thead = document.createElement("thead");
      thead.appendChild(tr);
      t.append(thead, document.createElement("tbody"));
      box.appendChild(t);
    }
    s.appendChild(box);
    return s;
  }
  function cell(tr, text, cls) {
    const td = document.createElement("td");
    td.textContent = text === null || text === undefined ? "–" : String(text);
    if (cls) td.className = cls;
    tr.appendChild(td);
  }
  function hhmm(iso) { return iso ? iso.slice(11, 19) : "–"; }

  function build() {
    const main = document.querySelector("main");
    main.appendChild(section("unpaid", "待付款 awaiting payment (催付)", [
      ["unpaid-orders", ["店铺 shop", "会话 ref", "订单 order", "金额 amount", "客服 agent",
                         "当前客服 holding", "下单 created", "已等待 waiting (min)"]],
      ["unpaid-agents", ["店铺 shop", "客服 agent", "今日催付 listed today", "待付款 awaiting",
                         "已挽回 recovered", "金额 amount"]]]));
    main.appendChild(section("lost", "询单流失 lost inquiries (点击客服查看 click an agent)", [
      ["lost-agents", ["店铺 shop", "客服 agent", "今日已定 today (settled)", "昨日 yesterday"]],
      ["lost-list", ["日期 day", "会话 ref", "首次等待 first wait", "首次响应 first response (s)",
                     "超时 breaches", "之后付款 paid later", "状态 settled"]]]));
  }

  async function get(path) {
    const q = new URLSearchParams();
    if (state.shop) q.set("shop", state.shop);
    const resp = await fetch(path + (q.toString() ? (path.includes("?") ? "&" : "?") + q : ""),
                             { credentials: "same-origin" });
    if (!resp.ok) throw new Error(path + ": HTTP " + resp.status);
    return resp.json();
  }

  function renderUnpaid(data) {
    const body = $("unpaid-orders").tBodies[0];
    body.replaceChildren();
    for (const o of data.orders) {
      const tr = document.createElement("tr");
      tr.dataset.ref = o.ref;
      tr.dataset.order = o.order_id;
      tr.dataset.agent = o.agent;
      cell(tr, o.shop_id); cell(tr, o.ref); cell(tr, o.order_id); cell(tr, o.amount);
      cell(tr, o.agent); cell(tr, o.holding); cell(tr, hhmm(o.created), "since");
      cell(tr, o.minutes_waiting.toFixed(0), "age");
      body.appendChild(tr);
    }
    const agents = $("unpaid-agents").tBodies[0];
    agents.replaceChildren();
    for (const a of data.agents) {
      const tr = document.createElement("tr");
      tr.dataset.agent = a.agent;
      tr.dataset.shop = a.shop_id;
      tr.dataset.recovered = a.unpaid_recovered;
      cell(tr, a.shop_id); cell(tr, a.agent); cell(tr, a.unpaid_orders); cell(tr, a.awaiting);
      cell(tr, a.unpaid_recovered); cell(tr, a.unpaid_amount);
      agents.appendChild(tr);
    }
    const amount = data.shops.map((s) => s.shop_id + " " + s.orders + " · ¥" + s.amount).join("  ");
    document.querySelector("#unpaid .count").textContent = "(" + data.total + ") " + amount;
  }

  function renderLost(data) {
    const agents = $("lost-agents").tBodies[0];
    agents.replaceChildren();
    for (const a of data.agents) {
      const tr = document.createElement("tr");
      tr.dataset.agent = a.agent;
      tr.dataset.shop = a.shop_id;
      tr.dataset.today = a.today;
      tr.dataset.yesterday = a.yesterday;
      if (a.agent === state.agent && a.shop_id === state.agentShop) tr.className = "picked";
      tr.style.cursor = "pointer";
      tr.addEventListener("click", () => {
        state.agent = a.agent; state.agentShop = a.shop_id; refresh();
      });
      cell(tr, a.shop_id); cell(tr, a.agent); cell(tr, a.today);
      cell(tr, a.yesterday + (a.yesterday_open ? " (" + a.yesterday_open + " 未定 open)" : ""));
      agents.appendChild(tr);
    }
    const list = $("lost-list").tBodies[0];
    list.replaceChildren();
    for (const e of data.inquiries || []) {
      const tr = document.createElement("tr");
      tr.dataset.ref = e.ref;
      tr.dataset.day = e.day;
      cell(tr, e.day + (e.when === "today" ? " 今日 today" : " 昨日 yesterday"));
      cell(tr, e.ref); cell(tr, hhmm(e.first_wait), "since");
      cell(tr, e.first_response_seconds === null ? null : e.first_response_seconds.toFixed(0));
      cell(tr, e.breaches); cell(tr, e.paid_later ? "是 yes" : "否 no");
      cell(tr, e.settled ? "已定 settled" : "未定 so far");
      list.appendChild(tr);
    }
    document.querySelector("#lost .count").textContent =
      state.agent ? "· " + state.agentShop + " / " + state.agent : "";
  }

  let timer = null;
  async function refresh() {
    clearTimeout(timer);
    try {
      renderUnpaid(await get("/api/unpaid"));
      const shop = state.agentShop || state.shop;
      const path = state.agent ? "/api/lost?agent=" + encodeURIComponent(state.agent) +
        (shop && !state.shop ? "&shop=" + encodeURIComponent(shop) : "") : "/api/lost";
      renderLost(await get(path));
      document.body.dataset.leadLoaded = "1";
    } catch (err) {
      document.body.dataset.leadError = String(err);
    }
    timer = setTimeout(refresh, POLL_MS);
  }

  build();
  const select = $("shop");
  if (select) select.addEventListener("change", () => { state.shop = select.value; refresh(); });
  refresh();
})();
