// The dashboard's pages: figures from the embedded snapshot, then live from server-sent events.
// Also used inline by the standalone HTML report (no stream there). No inline scripts (CSP).
(function () {
  "use strict";
  const byId = (id) => document.getElementById(id);
  const T = JSON.parse(byId("labels").textContent);
  const lab = (k) => T[k] || String(k).replace(/_/g, " ");
  const fmt = (v, unit) => (v === null || v === undefined ? "–" : v + (unit || ""));
  const stats = (window.dialerStats = { snapshots: [] });
  let chart = null;
  let span = [0, 1]; // the x range: the hours shown, an hour either side

  function set(field, value) {
    document.querySelectorAll('[data-field="' + field + '"]').forEach((e) => (e.textContent = value));
  }
  function cell(tr, value, href) {
    const td = document.createElement("td");
    if (href) {
      const a = document.createElement("a");
      a.href = href;
      a.textContent = value;
      td.appendChild(a);
    } else if (value instanceof Node) {
      td.appendChild(value);
    } else {
      td.textContent = value;
    }
    tr.appendChild(td);
  }
  function rows(id, list, empty) {
    const body = document.querySelector("#" + id + " tbody");
    if (!body) return;
    if (!list.length) list = [[empty]];
    body.replaceChildren(...list.map((r) => {
      const tr = document.createElement("tr");
      r.forEach((c) => (Array.isArray(c) ? cell(tr, c[0], c[1]) : cell(tr, c)));
      return tr;
    }));
  }
  function bar(value) {
    const p = document.createElement("progress");
    p.max = 100;
    p.value = value || 0;
    const span = document.createElement("span");
    span.append(p, " " + fmt(value, " %"));
    return span;
  }

  function drawChart(hours) {
    const box = byId("hourly");
    if (!box || typeof uPlot === "undefined") return;
    const xs = hours.map((h) => Date.parse(h.hour.replace("Z", ":00Z")) / 1000);
    const data = [xs, hours.map((h) => h.attempts), hours.map((h) => h.connected), hours.map((h) => h.reached)];
    if (xs.length) span = [Math.min(...xs) - 3600, Math.max(...xs) + 3600];
    if (chart) {
      chart.setData(data, false);
      chart.setScale("x", { min: span[0], max: span[1] });
      return;
    }
    const opts = {
      width: Math.max(320, box.clientWidth || 640), height: 240,
      tzDate: (ts) => uPlot.tzDate(new Date(ts * 1000), "Etc/UTC"), // the hours are UTC hours
      scales: { x: { time: true, auto: false, range: () => span },
                y: { range: (u, lo, hi) => [0, Math.max(1, hi) * 1.1] } },
      series: [{ label: lab("when") }, { label: lab("attempts"), stroke: "#3366cc", width: 2, points: { show: true } },
               { label: lab("connected"), stroke: "#ff9900", width: 2, points: { show: true } },
               { label: lab("reached"), stroke: "#109618", width: 2, points: { show: true } }],
    };
    chart = new uPlot(opts, data, box);
  }

  function showCampaign(f) {
    const r = f.report;
    set("state", lab(f.state));
    set("live", r.live);
    set("live_here", f.live_here === undefined ? "" : f.live_here);
    set("calls_per_s", f.calls_per_s);
    set("attempts", r.attempts);
    set("contacts", r.contacts_attempted + " / " + r.contacts);
    set("contact_rate", fmt(r.contact_rate_pct, " %"));
    set("machine", fmt(r.machine_pct, " %"));
    set("avg_call", fmt(r.avg_call_s));
    set("promises", r.promises_to_pay);
    set("promised_amount", r.promised_amount);
    set("transfer_rate", fmt(r.transfer_rate_pct, " %"));
    set("agent_answered", fmt(r.agent_answered_pct, " %") + " (" + r.agent_answered + ")");
    set("queue_wait", fmt(r.avg_queue_wait_s));
    document.querySelectorAll('[data-when="transfers"]').forEach((e) => (e.hidden = !(r.outcomes.transferred > 0)));
    document.querySelectorAll('[data-when="promises"]').forEach((e) => (e.hidden = !(r.promises_to_pay > 0)));
    const results = Object.entries(Object.assign({}, r.dial_results, r.outcomes)).sort((a, b) => b[1] - a[1]);
    rows("outcomes", results.map(([k, n]) => [lab(k), n]), lab("none"));
    rows("funnel", r.funnel.map((s) => [s.step, s.entered, s.hung_up_early]), lab("none"));
    rows("key_paths", r.key_paths.map((p) => [p.path, p.count]), lab("none"));
    drawChart(f.hourly);
    const buttons = document.querySelectorAll("form[data-command]");
    buttons.forEach((b) => (b.hidden = !(b.dataset.states || "").split(" ").includes(f.state)));
  }

  function showCampaigns(f) {
    rows("campaigns", f.campaigns.map((c) => [[c.name, "/campaigns/" + encodeURIComponent(c.name)], lab(c.state),
      bar(c.progress_pct), c.attempts, c.live, fmt(c.contact_rate_pct, " %")]), lab("no_campaigns"));
  }

  function show(f) {
    if (f.report) showCampaign(f); else showCampaigns(f);
    const now = Date.now();
    stats.snapshots.push({ at: now, lag_ms: f.sent_at_ms ? now - f.sent_at_ms : null,
                           attempts: f.report ? f.report.attempts : null, live: f.report ? f.report.live : null });
    set("updated", new Date(now).toLocaleTimeString());
  }

  document.querySelectorAll("form[data-confirm]").forEach((form) =>
    form.addEventListener("submit", (e) => { if (!window.confirm(form.dataset.confirm)) e.preventDefault(); }));
  show(JSON.parse(byId("figures").textContent));
  const url = document.body.dataset.stream;
  if (url && window.EventSource) {
    const source = new EventSource(url);
    source.addEventListener("snapshot", (e) => show(JSON.parse(e.data)));
    source.addEventListener("open", () => (stats.streaming = true));
  }
})();
