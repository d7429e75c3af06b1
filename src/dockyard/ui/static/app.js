// Dockyard web UI: small enhancements over server-rendered pages.
// Every page works without this file except the charts.
"use strict";

(function () {
  const MAX_POINTS = 2000;
  const COLORS = ["#1f5fbf", "#d9480f", "#2b8a3e", "#862e9c", "#c2255c", "#0b7285",
                  "#5c940d", "#e67700", "#364fc7", "#a61e4d"];

  // Selects that apply themselves (a button in <noscript> does it without JS).
  document.querySelectorAll("select[data-autosubmit]").forEach((el) => {
    el.addEventListener("change", () => el.form.submit());
  });

  // Runs table: select runs, then compare 2 to N of them.
  const compareButton = document.getElementById("compare-button");
  if (compareButton) {
    const max = Number(compareButton.dataset.max);
    const boxes = Array.from(document.querySelectorAll('input[name="run"][form="compare-form"]'));
    const hint = document.getElementById("compare-hint");
    const all = document.getElementById("select-all");
    const update = () => {
      const n = boxes.filter((b) => b.checked).length;
      compareButton.disabled = n < 2 || n > max;
      compareButton.textContent = n ? `Compare ${n} selected` : "Compare selected";
      hint.textContent = n > max ? `at most ${max} runs` : n < 2 ? `select 2 to ${max} runs` : "";
      if (all) all.checked = n > 0 && n === boxes.length;
    };
    boxes.forEach((b) => b.addEventListener("change", update));
    if (all) all.addEventListener("change", () => { boxes.forEach((b) => { b.checked = all.checked; }); update(); });
    update();
  }

  // Compare page: show only the params that differ.
  const onlyDiff = document.getElementById("only-diff");
  if (onlyDiff) {
    const table = document.getElementById("compare-params");
    onlyDiff.addEventListener("change", () => table.classList.toggle("only-diff", onlyDiff.checked));
  }

  // Metric charts --------------------------------------------------------------------------
  async function fetchHistory(runId, key) {
    const url = `/api/v1/runs/${encodeURIComponent(runId)}/metric-history?` +
      new URLSearchParams({ key, max_points: String(MAX_POINTS) });
    const resp = await fetch(url);
    const body = await resp.json();
    if (!resp.ok) throw new Error(body.message || `HTTP ${resp.status}`);
    return body;
  }

  // One [xs, ys] table sorted by x, one point per x (the last logged wins).
  function table(history, xKind) {
    const xs = xKind === "time" ? history.timestamps.map((t) => t / 1000) : history.steps;
    const order = xs.map((_, i) => i).sort((a, b) => xs[a] - xs[b] || a - b);
    const outX = [], outY = [];
    for (const i of order) {
      if (outX.length && outX[outX.length - 1] === xs[i]) outY[outY.length - 1] = history.values[i];
      else { outX.push(xs[i]); outY.push(history.values[i]); }
    }
    return [outX, outY];
  }

  function initChart(panel) {
    const runs = JSON.parse(panel.dataset.runs);
    const fixedMetric = panel.dataset.metric;
    const target = panel.querySelector(".chart");
    const note = panel.querySelector(".chart-note");
    const cache = new Map();
    let plot = null;

    const selectedKeys = () => fixedMetric ? [fixedMetric]
      : Array.from(panel.querySelectorAll('input[name="metric"]:checked')).map((el) => el.value);

    async function draw() {
      const xKind = panel.querySelector('select[name="x"]').value;
      const logBox = panel.querySelector('input[name="log"]');
      const series = [];
      for (const run of runs) for (const key of selectedKeys()) series.push({ run, key });
      note.classList.remove("error");
      if (!series.length) {
        if (plot) { plot.destroy(); plot = null; }
        target.dataset.points = "0";
        note.textContent = "Choose a metric to chart.";
        return;
      }
      note.textContent = "Loading…";
      let histories;
      try {
        histories = await Promise.all(series.map(({ run, key }) => {
          const id = `${run.id}\u0000${key}`;
          if (!cache.has(id)) cache.set(id, fetchHistory(run.id, key));
          return cache.get(id);
        }));
      } catch (err) {
        note.textContent = `Could not load the metric history: ${err.message}`;
        note.classList.add("error");
        return;
      }
      const tables = histories.map((h) => table(h, xKind));
      const data = tables.length === 1 ? tables[0] : uPlot.join(tables);
      const values = tables.flatMap((t) => t[1]);
      let log = logBox.checked;
      const messages = [];
      if (log && values.some((v) => v <= 0)) {
        log = false;
        messages.push("log scale needs values above zero; showing a linear scale");
      }
      const sampled = histories.filter((h) => h.sampled_from);
      if (sampled.length) {
        const total = sampled.reduce((a, h) => a + h.sampled_from, 0);
        messages.push(`${values.length.toLocaleString()} points shown of ${total.toLocaleString()}` +
                      " (min and max of each bucket kept)");
      }
      const label = (s) => runs.length > 1 && !fixedMetric ? `${s.run.name} · ${s.key}`
        : runs.length > 1 ? s.run.name : s.key;
      const opts = {
        width: Math.max(320, target.clientWidth),
        height: 320,
        scales: { x: { time: xKind === "time" }, y: log ? { distr: 3 } : {} },
        axes: [{ label: xKind === "time" ? "" : "step" }, {}],
        series: [{}].concat(series.map((s, i) => ({
          label: label(s), stroke: COLORS[i % COLORS.length], width: 1.5, spanGaps: true,
          points: { show: false },
        }))),
        cursor: { drag: { x: true, y: false } },
      };
      if (plot) plot.destroy();
      plot = new uPlot(opts, data, target);
      target.dataset.points = String(values.length);
      target.dataset.yMax = String(values.reduce((a, v) => (v > a ? v : a), -Infinity));
      target.dataset.series = String(series.length);
      note.textContent = messages.join("; ");
    }

    panel.querySelectorAll("input, select").forEach((el) => el.addEventListener("change", draw));
    window.addEventListener("resize", () => {
      if (plot) plot.setSize({ width: Math.max(320, target.clientWidth), height: 320 });
    });
    draw();
  }

  document.querySelectorAll(".chart-panel").forEach(initChart);

  // Parallel coordinates: one axis per param, then the metric -------------------------------
  const SVG = "http://www.w3.org/2000/svg";

  function el(name, attrs, parent, text) {
    const node = document.createElementNS(SVG, name);
    for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
    if (text !== undefined) node.textContent = text;
    parent.appendChild(node);
    return node;
  }

  function axisFor(values) {
    const present = values.filter((v) => v !== null && v !== undefined);
    const numeric = present.length > 0 && present.every((v) => v !== "" && !isNaN(Number(v)));
    if (numeric) {
      const nums = present.map(Number);
      const lo = Math.min(...nums), hi = Math.max(...nums);
      const fmt = (v) => String(Number(v.toPrecision(4)));
      return { pos: (v) => (hi === lo ? 0.5 : (Number(v) - lo) / (hi - lo)),
               ticks: hi === lo ? [[0.5, fmt(lo)]] : [[0, fmt(lo)], [1, fmt(hi)]] };
    }
    const cats = Array.from(new Set(present.map(String))).sort();
    const pos = (v) => (cats.length === 1 ? 0.5 : cats.indexOf(String(v)) / (cats.length - 1));
    return { pos, ticks: cats.map((c) => [pos(c), c]) };
  }

  function drawParcoords(box) {
    const rows = JSON.parse(box.dataset.rows);
    const params = JSON.parse(box.dataset.params);
    const metric = box.dataset.metric;
    const dims = params.map((p) => ({ name: p, values: rows.map((r) => (p in r.params ? r.params[p] : null)) }));
    dims.push({ name: metric, values: rows.map((r) => r.value) });
    const width = Math.max(480, box.clientWidth), height = 340, top = 30, bottom = 30, left = 60, right = 90;
    const svg = el("svg", { viewBox: `0 0 ${width} ${height}`, preserveAspectRatio: "none" }, box);
    const x = (i) => left + (dims.length === 1 ? 0 : (i * (width - left - right)) / (dims.length - 1));
    const y = (p) => top + (1 - p) * (height - top - bottom);
    const axes = dims.map((d) => axisFor(d.values));
    const metricAxis = axisFor(dims[dims.length - 1].values);
    rows.forEach((r, ri) => {
      const pts = [];
      dims.forEach((d, i) => { const v = d.values[ri]; if (v !== null && v !== undefined) pts.push([x(i), y(axes[i].pos(v))]); });
      if (pts.length < 2) return;
      const t = r.value === null ? 0.5 : metricAxis.pos(r.value);
      const color = `hsl(${220 - 220 * t}, 70%, 45%)`;
      const path = el("path", { class: "line", d: "M" + pts.map((p) => p.join(",")).join("L"), stroke: color }, svg);
      el("title", {}, path, `${r.name}: ${metric} = ${r.value === null ? "none" : r.value}`);
    });
    dims.forEach((d, i) => {
      const g = el("g", { class: "axis" }, svg);
      el("line", { x1: x(i), x2: x(i), y1: top, y2: height - bottom }, g);
      el("text", { x: x(i), y: top - 12, "text-anchor": "middle", "font-weight": "600" }, g, d.name);
      axes[i].ticks.forEach(([p, label]) => el("text", { x: x(i) + 6, y: y(p) + 4 }, g, label.length > 14 ? label.slice(0, 13) + "…" : label));
    });
    box.dataset.lines = String(svg.querySelectorAll("path.line").length);
  }

  document.querySelectorAll(".parcoords").forEach(drawParcoords);
})();

// Monitoring charts: one value per window and series, carried in the page (data-chart) and
// drawn with uPlot. A window without a value is a gap, never a zero.
(function () {
  const COLORS = ["#1f5fbf", "#d9480f", "#2b8a3e", "#862e9c", "#c2255c", "#0b7285",
                  "#5c940d", "#e67700", "#364fc7", "#a61e4d"];
  const HEIGHT = 220;
  const utc = (ts) => uPlot.tzDate(new Date(ts * 1e3), "Etc/UTC");

  function format(unit, v) {
    if (v === null || v === undefined) return "—";
    if (unit === "share") return `${(v * 100).toFixed(1)}%`;
    const n = Number(v.toPrecision(3));
    if (unit === "ms") return `${n} ms`;
    if (unit === "per_second") return `${n}/s`;
    return String(Number(v.toPrecision(4)));
  }

  function drawMonitorChart(box) {
    const chart = JSON.parse(box.dataset.chart);
    const width = () => Math.max(280, box.clientWidth);
    const opts = {
      width: width(),
      height: HEIGHT,
      tzDate: utc,
      scales: { x: { time: true } },
      axes: [{}, { size: 64, values: (u, ticks) => ticks.map((v) => format(chart.unit, v)) }],
      series: [{ label: "window (UTC)" }].concat(chart.series.map((s, i) => ({
        label: s.label, stroke: COLORS[i % COLORS.length], width: 1.5, spanGaps: false,
        points: { show: true, size: 5 }, value: (u, v) => format(chart.unit, v),
      }))),
      cursor: { drag: { x: true, y: false }, sync: { key: "monitoring" } },
      legend: { live: true },
    };
    const data = [chart.x].concat(chart.series.map((s) => s.values));
    const plot = new uPlot(opts, data, box);
    box.dataset.series = String(chart.series.length);
    box.dataset.points = String(chart.series.reduce(
      (n, s) => n + s.values.filter((v) => v !== null).length, 0));
    window.addEventListener("resize", () => plot.setSize({ width: width(), height: HEIGHT }));
  }

  document.querySelectorAll(".mchart").forEach(drawMonitorChart);
})();
