// emostream dashboard: renders the `update` events of /api/events (server-sent events); no build step, uPlot vendored.
"use strict";
// the 8 emotions and "neutral" (posts the neutral gate says express none), counted apart
const LABELS = ["amusement", "anger", "awe", "contentment", "excitement", "disgust", "fear", "sadness", "neutral"];
const COLORS = { amusement: "#f2cc60", anger: "#f85149", awe: "#a371f7", contentment: "#3fb950",
                 excitement: "#ff9b4a", disgust: "#9ea73b", fear: "#8b98a5", sadness: "#58a6ff", neutral: "#484f58" };
const ABBR = { image: "I", text: "T", tags: "#" };  // the paper's names of the modalities
const $ = (id) => document.getElementById(id);
// Every value from Redis reaches the page as text: elements are built here, strings become text nodes (no innerHTML).
function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k === "style") Object.assign(el.style, v);
    else if (k === "dataset") Object.assign(el.dataset, v);
    else el[k] = v;
  }
  for (const c of children.flat()) el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return el;
}
const fmt = (x, d = 0) => (x === null || x === undefined || Number.isNaN(x)) ? "–" : Number(x).toLocaleString("en", { maximumFractionDigits: d, minimumFractionDigits: d });
let emoChart = null, sentChart = null, lastUpdate = 0, feedIds = new Set(), openSpikes = [], spikeWindow = 300;

// An open spike is a band over its window on the emotions chart, in the emotion's colour, named at the top.
function drawSpikes(u) {
  if (!openSpikes.length) return;
  const ctx = u.ctx, now = Date.now() / 1000, top = u.bbox.top, height = u.bbox.height;
  const x0 = u.valToPos(now - spikeWindow, "x", true), x1 = u.valToPos(now, "x", true);
  ctx.save();
  openSpikes.forEach((s, i) => {
    ctx.fillStyle = (COLORS[s.label] || "#f85149") + "26";
    ctx.fillRect(x0, top, x1 - x0, height);
    ctx.fillStyle = COLORS[s.label] || "#f85149";
    ctx.font = `${12 * devicePixelRatio}px sans-serif`;
    ctx.fillText(`▲ ${s.label} spike`, x0 + 4, top + (14 + 14 * i) * devicePixelRatio);
  });
  ctx.restore();
}

function chart(el, series, height, hooks = {}) {
  const opts = { width: el.clientWidth || 600, height, series: [{}, ...series], hooks,
    axes: [{ stroke: "#8b98a5", grid: { stroke: "#26323d" } }, { stroke: "#8b98a5", grid: { stroke: "#26323d" }, size: 50 }],
    scales: { x: { time: true }, y: { range: (u, lo, hi) => [0, Math.max(hi * 1.1, 0.1)] } }, legend: { live: false } };
  return new uPlot(opts, [[], ...series.map(() => [])], el);
}

function ensureCharts() {
  if (emoChart) return;
  emoChart = chart($("chart-emotions"), LABELS.map((e) => ({ label: e, stroke: COLORS[e], width: 2 })), 390, { draw: [drawSpikes] });
  sentChart = chart($("chart-sentiment"), [{ label: "positive", stroke: "#3fb950", width: 2, fill: "#3fb95022" },
                                          { label: "negative", stroke: "#f85149", width: 2, fill: "#f8514922" }], 150);
  window.addEventListener("resize", () => {
    emoChart.setSize({ width: $("chart-emotions").clientWidth, height: 390 });
    sentChart.setSize({ width: $("chart-sentiment").clientWidth, height: 150 });
  });
}

function renderSeries(ts) {
  // One point per bucket over the whole last hour, zeros where no post came, so the lines are continuous.
  ensureCharts();
  const per = ts.bucket_s, byT = new Map(ts.buckets.map((r) => [r.t, r]));
  const end = Math.floor(Date.now() / 1000 / per) * per, xs = [];
  for (let t = end - 3600 + per; t <= end; t += per) xs.push(t);
  const get = (t, f) => { const r = byT.get(t); return r ? f(r) / per : 0; };
  emoChart.setData([xs, ...LABELS.map((e) => xs.map((t) => get(t, (r) => r.emotions[e])))]);
  sentChart.setData([xs, xs.map((t) => get(t, (r) => r.sentiments.positive)), xs.map((t) => get(t, (r) => r.sentiments.negative))]);
}

function renderSummary(s) {
  const t = s.totals;
  $("kpi-posts").textContent = fmt(t.posts);
  $("kpi-posts").dataset.value = t.posts;
  $("kpi-rate").textContent = fmt(s.rates_per_s.posts_last_minute, 1);
  const sent = t.sentiments.positive + t.sentiments.negative;
  $("kpi-positive").textContent = sent ? fmt(100 * t.sentiments.positive / sent, 0) + " %" : "–";
  $("kpi-neutral").textContent = t.posts ? `neutral: ${fmt(100 * t.emotions.neutral / t.posts, 0)} % of posts (not in the share)` : "";
  $("kpi-dead").textContent = fmt(s.rates_per_s.dead_last_minute, 2);
  $("kpi-dead-total").textContent = `${fmt(t.dead_letters)} in total ` + Object.entries(t.dead_by_reason).map(([k, v]) => `${k} ${v}`).join(", ");
  $("kpi-degraded").textContent = fmt(s.rates_per_s.degraded_last_minute, 2);
  $("kpi-degraded-total").textContent = `${fmt(t.degraded)} in total ` + Object.entries(t.degraded_by_reason).map(([k, v]) => `${k} ${v}`).join(", ");
  $("kpi-disagree").textContent = t.posts ? fmt(100 * t.disagreements / t.posts, 1) + " %" : "–";
  $("kpi-disagree-total").textContent = `${fmt(t.disagreements)} posts whose image, text or tags said another emotion`;
  const late = t.late || {};
  $("kpi-posts-late").textContent = (late.in_bucket || late.expired) ? `late: ${fmt(late.in_bucket || 0)} in their bucket, ${fmt(late.expired || 0)} past it` : "";
  $("kpi-lag").textContent = s.consumer_lag === null || s.consumer_lag === undefined ? "–" : fmt(s.consumer_lag);
  const w = s.workers;
  $("kpi-workers").textContent = `${w.length} worker${w.length === 1 ? "" : "s"}: ` + w.map((x) => `${fmt(x.posts_out)} out`).join(" · ");
  // bars are scaled to the largest share shown, so eight shares of ~12 % stay readable
  const top = Math.max(0.01, ...LABELS.flatMap((e) => [s.emotion_share.last_minute[e], s.emotion_share.last_hour[e]]));
  const rows = LABELS.map((e) => {
    const now = s.emotion_share.last_minute[e], hour = s.emotion_share.last_hour[e];
    const bar = (cls, share) => h("div", { className: `bar ${cls}`, style: { width: `${100 * share / top}%`, background: COLORS[e] } });
    return h("div", { className: "share-row", dataset: { emotion: e } }, h("span", {}, e),
      h("div", { className: "bars" }, bar("now", now), bar("hour", hour)), h("span", {}, `${fmt(100 * now)} %`));
  });
  $("share").replaceChildren(...rows, h("div", { className: "sub" }, "upper bar: last minute · lower bar: last hour (scaled to the largest share)"));
  $("footer").textContent = `emotion totals: ` + LABELS.map((e) => `${e} ${t.emotions[e]}`).join(" · ") + ` — updated ${new Date(s.at * 1000).toLocaleTimeString()}`;
}

function renderSpikes(sp) {
  openSpikes = sp.open;
  spikeWindow = sp.method.window_s;
  const m = sp.method;
  const rows = sp.open.map((s) => h("div", { className: "spike", dataset: { emotion: s.label } },
    h("span", { className: "badge", style: { background: COLORS[s.label] || "#8b98a5" } }, s.label),
    h("span", {}, `${fmt(s.count)} posts in ${m.window_s / 60} min (${fmt(s.rate_per_min, 1)}/min vs ${fmt(s.baseline_per_min, 2)}/min in the hour before, ${fmt(s.expected, 1)} expected)`),
    h("span", { className: "score" }, `score ${fmt(s.score, 1)}`)));
  $("spikes").replaceChildren(...(rows.length ? rows : [h("div", { className: "sub" }, "no open spike")]),
    h("div", { className: "sub" }, `open when the last ${m.window_s / 60} min hold ≥ ${m.min_count} posts of a label, ≥ ${m.ratio}x what the hour before predicts, and a Poisson tail below 1e-${m.score_open}`));
  $("spikes-count").textContent = sp.open.length ? `${sp.open.length} open` : "";
  if (emoChart) emoChart.redraw(false, false);
}

// Drill-down: the keys with the most posts fill the selector (every 10 s); the chosen key's view is fetched each update.
let keyChart = null, keysFetched = 0;
async function refreshKeys() {
  if (Date.now() - keysFetched < 10000) return;
  keysFetched = Date.now();
  const sel = $("key-select"), chosen = sel.value;
  const keys = await (await fetch("/api/keys?n=30")).json();
  sel.replaceChildren(h("option", { value: "" }, "choose a tag or tracked key…"),
    ...keys.map((k) => h("option", { value: k.key, selected: k.key === chosen }, `${k.key} (${fmt(k.posts)})`)));
}
async function renderKey() {
  const key = $("key-select").value;
  if (!key) { $("key-totals").textContent = ""; return; }
  const v = await (await fetch("/api/key?minutes=60&key=" + encodeURIComponent(key))).json();
  if (v.error) return;
  if (!keyChart) keyChart = chart($("key-chart"), LABELS.map((e) => ({ label: e, stroke: COLORS[e], width: 2 })), 150);
  const per = v.bucket_s, byT = new Map(v.buckets.map((r) => [r.t, r])), end = Math.floor(v.end / per) * per, xs = [];
  for (let t = end - 3600 + per; t <= end; t += per) xs.push(t);
  keyChart.setData([xs, ...LABELS.map((e) => xs.map((t) => (byT.get(t) ? byT.get(t).emotions[e] : 0)))]);
  const t = v.totals, top = LABELS.filter((e) => t.emotions[e]).sort((a, b) => t.emotions[b] - t.emotions[a]);
  $("key-totals").replaceChildren(h("span", { dataset: { key: v.key, posts: t.posts } },
    `${v.key}: ${fmt(t.posts)} posts in the last hour — ` + top.map((e) => `${e} ${t.emotions[e]}`).join(" · ")),
    ...v.spikes.open.map((sp) => h("span", { className: "spike-inline", dataset: { emotion: sp.label } }, ` ▲ ${sp.label} spike (score ${fmt(sp.score, 1)})`)));
}

function renderTags(tags) {
  $("tags").replaceChildren(...LABELS.map((e) => h("div", { className: "tagbox", style: { borderColor: COLORS[e] } },
    h("div", { className: "name" }, e),
    tags[e].length ? tags[e].map((t) => h("div", { className: "tag" }, h("span", {}, `#${t.tag}`), h("span", {}, fmt(t.count))))
                   : h("div", { className: "sub" }, "no tags yet"))));
}

function renderFeed(rows) {
  const body = $("feed").querySelector("tbody");
  for (const r of rows.slice().reverse()) {
    if (feedIds.has(r.id + r.stream_id)) continue;
    feedIds.add(r.id + r.stream_id);
    const tr = document.createElement("tr");
    tr.className = "new";
    tr.dataset.id = r.id;
    const deg = (r.degraded || []).map((d) => `${d.modality}: ${d.reason}`).join(", ");
    // the image is a link, never an <img>: the browser does not fetch what posters link to (docs/DASHBOARD.md)
    const image = typeof r.image_url === "string" && /^https?:\/\//i.test(r.image_url)
      ? h("a", { className: "img-link", href: r.image_url, target: "_blank", rel: "noopener noreferrer nofollow", title: r.image_url }, "image ↗")
      : "";
    const opinions = Object.entries(r.opinions || {}).map(([m, o]) => h("span", { className: "op", title: `${m}: ${o.emotion} ${fmt(o.score, 2)}` },
      `${ABBR[m] || m} `, h("b", { style: { color: COLORS[o.emotion] || "#8b98a5" } }, o.emotion)));
    tr.append(
      h("td", { title: r.id }, r.id),
      h("td", {}, h("span", { className: "badge", style: { background: COLORS[r.emotion] || "#8b98a5" } }, r.emotion)),
      h("td", {}, fmt(r.emotion === "neutral" ? r.neutral_score : (r.emotion_scores || {})[r.emotion], 2)),
      h("td", { className: { positive: "pos", negative: "neg" }[r.sentiment] || "neu" }, r.sentiment),
      h("td", { className: "post" }, h("div", { className: "text" }, r.text || ""),
        h("div", { className: "sub" }, (r.tags || []).map((t) => `#${t}`).join(" "))),
      h("td", {}, (r.modalities || []).map((m) => h("span", { className: "mod" }, m)), image),
      h("td", { className: "ops" }, opinions, r.disagreement ? h("span", { className: "warn" }, " ≠") : ""),
      h("td", { className: "deg" }, deg),
      h("td", {}, `${fmt(r.latency_ms)} ms`));
    // a click shows the whole record (as text) under the row; another click hides it
    tr.addEventListener("click", (ev) => {
      if (ev.target.closest("a")) return;
      const next = tr.nextElementSibling;
      if (next && next.classList.contains("record")) { next.remove(); return; }
      const { stream_id, ...record } = r;
      tr.after(h("tr", { className: "record", dataset: { id: r.id } }, h("td", { colSpan: 9 }, h("pre", {}, JSON.stringify(record, null, 2)))));
    });
    body.insertBefore(tr, body.firstChild);
  }
  const shown = () => [...body.children].filter((x) => !x.classList.contains("record"));
  while (shown().length > 25) { const last = shown().at(-1); if (last.nextElementSibling) last.nextElementSibling.remove(); last.remove(); }
  $("feed-count").textContent = `${shown().length} shown, newest first; click a post for its record`;
}

function setStatus(live, text) {
  const el = $("status");
  el.classList.toggle("stale", !live);
  el.dataset.state = live ? "live" : "stale";
  $("status-text").textContent = text;
}

function connect() {
  const es = new EventSource("/api/events");
  es.addEventListener("update", (ev) => {
    const d = JSON.parse(ev.data);
    lastUpdate = Date.now();
    renderSummary(d.summary);
    renderSeries(d.timeseries);
    renderSpikes(d.spikes);
    renderTags(d.top_tags);
    renderFeed(d.recent);
    setStatus(true, "live");
    refreshKeys().then(renderKey).catch(() => {});
  });
  es.addEventListener("stale", (ev) => setStatus(false, "stale: Redis unavailable, retrying"));
  es.onerror = () => setStatus(false, "stale: dashboard server unreachable, reconnecting");
}

$("key-select").addEventListener("change", () => renderKey().catch(() => {}));
setInterval(() => { if (lastUpdate && Date.now() - lastUpdate > 8000) setStatus(false, "stale: no update for " + Math.round((Date.now() - lastUpdate) / 1000) + " s"); }, 2000);
connect();
