// turnscore inspect page: plain JavaScript, no build step, no dependency, same-origin requests only.
// It reads a /v1/score request, scores it once per chosen preset (explain: "matrix") and shows, per group,
// the rollouts, the group summary and, for the chosen rollout, the similarity matrix and the per-turn bars.
"use strict";

(() => {
  const KEY_STORE = "turnscore.apiKey"; // sessionStorage: forgotten when the tab closes
  const FALLBACK_PRESETS = ["matchtir-km", "matchtir-reference-km", "matchtir-ot", "turnscore-v1"];
  const SUMMARY_FIELDS = [
    ["rollouts", "rollouts", 0],
    ["turns_mean", "turns / rollout", 2],
    ["calls", "calls", 0],
    ["matched_calls", "matched", 0],
    ["exact_calls", "exact", 0],
    ["redundant_calls", "redundant", 0],
    ["malformed_calls", "malformed", 0],
    ["gold_calls", "gold calls", 0],
    ["covered_gold", "covered gold", 0],
    ["missed_gold", "missed gold", 0],
    ["call_precision", "precision", 3],
    ["call_recall", "recall", 3],
    ["call_f1", "F1", 3],
    ["redundant_ratio", "redundant ratio", 3],
    ["answer_rate", "answer rate", 3],
    ["outcome_mean", "outcome mean", 3],
    ["return_mean", "return mean", 3],
    ["return_std", "return std", 3],
    ["advantage_abs_mean", "|advantage| mean", 3],
  ];
  const $ = (id) => document.getElementById(id);
  const state = { presets: FALLBACK_PRESETS.slice(), runs: [], selected: [] };

  // -- small helpers ----------------------------------------------------------------------------------
  function el(tag, props, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(props || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === "class") node.className = v;
      else if (k === "text") node.textContent = v;
      else if (k === "testid") node.dataset.testid = v;
      else if (k === "data") Object.assign(node.dataset, v);
      else if (k === "on") for (const [ev, fn] of Object.entries(v)) node.addEventListener(ev, fn);
      else node.setAttribute(k, v);
    }
    for (const c of children.flat()) if (c !== null && c !== undefined) node.append(c);
    return node;
  }

  function svg(tag, attrs, ...children) {
    const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, String(v));
    for (const c of children) node.append(c);
    return node;
  }

  function fmt(x, digits = 3) {
    if (x === null || x === undefined) return "–";
    if (typeof x !== "number") return String(x);
    return Number.isInteger(x) && digits === 0 ? String(x) : x.toFixed(digits);
  }

  const fmtList = (xs, digits = 2) => (Array.isArray(xs) ? "[" + xs.map((x) => fmt(x, digits)).join(", ") + "]" : "–");

  class ApiError extends Error {
    constructor(status, error) {
      super((error && error.message) || `HTTP ${status}`);
      this.status = status;
      this.code = (error && error.code) || `http_${status}`;
      this.details = error ? error.details : null;
    }
  }

  function apiKey() {
    return $("api-key").value.trim();
  }

  async function api(path, body) {
    const headers = { accept: "application/json" };
    const key = apiKey();
    if (key) headers.authorization = "Bearer " + key;
    const init = { headers, method: body === undefined ? "GET" : "POST" };
    if (body !== undefined) {
      headers["content-type"] = "application/json";
      headers["x-turnscore-sample"] = "off"; // the page's own requests stay out of the inspect ring
      init.body = JSON.stringify(body);
    }
    let res;
    try {
      res = await fetch(path, init); // relative: the page is at <root>/ui, the API at <root>/v1/...
    } catch (e) {
      throw new ApiError(0, { code: "network_error", message: "the service did not answer: " + e.message });
    }
    const text = await res.text();
    let data = null;
    try {
      data = text ? JSON.parse(text) : null;
    } catch (e) {
      data = null;
    }
    if (!res.ok) {
      const error = data && data.error ? data.error : { message: text.slice(0, 500) || res.statusText };
      throw new ApiError(res.status, error);
    }
    return data;
  }

  function errorBlock(err, context) {
    const lines = [];
    const head = err instanceof ApiError ? `${err.status || ""} ${err.code}`.trim() : "error";
    lines.push(el("strong", { text: (context ? context + ": " : "") + head }));
    lines.push(el("span", { text: " " + err.message }));
    if (err.status === 401) lines.push(el("div", { text: "This service needs an API key: enter it at the top right." }));
    if (err.details) {
      const path = err.details.path;
      if (path) lines.push(el("div", { class: "path", text: "at " + path }));
      lines.push(el("pre", { text: JSON.stringify(err.details, null, 2) }));
    }
    return lines;
  }

  function showError(err, context) {
    const box = $("error");
    if (document.body.dataset.state !== "scoring") document.body.dataset.state = "failed";
    box.replaceChildren(...errorBlock(err, context));
    box.hidden = false;
  }

  function clearError() {
    // a new action starts from idle: a past failure (e.g. the presets read before the key was entered)
    // must not stand for the outcome of what comes next
    if (document.body.dataset.state === "failed") document.body.dataset.state = "idle";
    $("error").hidden = true;
    $("error").replaceChildren();
  }

  function setStatus(text) {
    $("status").textContent = text;
  }

  // -- presets ----------------------------------------------------------------------------------------
  async function loadPresets() {
    try {
      const presets = await api("v1/presets");
      state.presets = Object.keys(presets).sort();
    } catch (err) {
      if (err.status === 401) showError(err, "presets");
    }
    fillSelects(chosenPresets());
  }

  function chosenPresets() {
    return [0, 1, 2].map((i) => $("preset-" + i).value).filter((p) => p);
  }

  function fillSelects(chosen) {
    for (const i of [0, 1, 2]) {
      const select = $("preset-" + i);
      const names = state.presets.slice();
      if (chosen[i] && !names.includes(chosen[i])) names.push(chosen[i]);
      const options = i === 0 ? [] : [el("option", { value: "", text: "(none)" })];
      for (const name of names) options.push(el("option", { value: name, text: name }));
      select.replaceChildren(...options);
      select.value = chosen[i] || (i === 0 ? names[0] || "" : "");
    }
  }

  // -- the request ------------------------------------------------------------------------------------
  function readRequest() {
    const text = $("request-input").value.trim();
    if (!text) throw new ApiError(0, { code: "empty", message: "paste or upload a /v1/score request first" });
    let doc;
    try {
      doc = JSON.parse(text);
    } catch (e) {
      throw new ApiError(0, { code: "not_json", message: "the request is not JSON: " + e.message });
    }
    if (!doc || typeof doc !== "object" || Array.isArray(doc)) {
      throw new ApiError(0, { code: "not_an_object", message: "a /v1/score request is a JSON object with groups" });
    }
    return doc;
  }

  function setRequest(doc, presets) {
    $("request-input").value = JSON.stringify(doc, null, 1);
    const first = presets && presets.length ? presets : [doc.preset || chosenPresets()[0] || "matchtir-km"];
    fillSelects(first);
  }

  async function score(select) {
    clearError();
    let doc;
    try {
      doc = readRequest();
    } catch (err) {
      showError(err, "request");
      return;
    }
    const presets = [...new Set(chosenPresets())];
    if (!presets.length) {
      showError(new ApiError(0, { code: "no_preset", message: "choose at least one preset" }));
      return;
    }
    $("score-button").disabled = true;
    document.body.dataset.state = "scoring";
    setStatus("scoring…");
    const runs = await Promise.all(
      presets.map(async (preset) => {
        try {
          const body = await api("v1/score", { ...doc, preset, explain: "matrix" });
          return { preset, body };
        } catch (error) {
          return { preset, error };
        }
      }),
    );
    $("score-button").disabled = false;
    state.runs = runs;
    state.selected = Array.isArray(select) ? select.slice() : [];
    const failed = runs.filter((r) => r.error);
    setStatus(failed.length ? `${failed.length} of ${runs.length} failed` : `scored with ${presets.join(", ")}`);
    if (failed.length === runs.length) showError(failed[0].error, failed[0].preset);
    render();
    // what a test (or a person) can wait for: scored (some preset answered) or failed (none did)
    document.body.dataset.state = failed.length === runs.length ? "failed" : "scored";
  }

  // -- results ----------------------------------------------------------------------------------------
  function render() {
    const results = $("results");
    const ok = state.runs.filter((r) => r.body);
    if (!state.runs.length) {
      results.replaceChildren();
      return;
    }
    const parts = [requestSummary()];
    const groups = ok.length ? ok[0].body.groups : [];
    groups.forEach((g, gi) => parts.push(renderGroup(gi)));
    results.replaceChildren(...parts);
  }

  function summaryRows(runs, pick) {
    const head = el("tr", {}, el("th", { text: "preset" }), SUMMARY_FIELDS.map(([, label]) => el("th", { text: label })));
    const rows = runs.map((run) => {
      const summary = run.body ? pick(run.body) : null;
      if (run.error) {
        return el("tr", { class: "failed" }, el("th", { text: run.preset }),
          el("td", { colspan: SUMMARY_FIELDS.length, text: `${run.error.code}: ${run.error.message}` }));
      }
      return el("tr", { data: { preset: run.preset } }, el("th", { text: run.preset }),
        SUMMARY_FIELDS.map(([key, , digits]) => el("td", { data: { field: key }, text: summary ? fmt(summary[key], digits) : "–" })));
    });
    return el("table", { class: "summary" }, el("thead", {}, head), el("tbody", {}, rows));
  }

  function requestSummary() {
    const seen = new Map(); // the same warning from several presets is listed once
    for (const run of state.runs) {
      for (const w of (run.body && run.body.warnings) || []) {
        const key = `${w.code} ×${w.count} at ${w.path}: ${w.message}`;
        seen.set(key, [...(seen.get(key) || []), run.preset]);
      }
    }
    const warnings = [...seen].map(([text, presets]) => el("li", { text: `${presets.join(", ")}: ${text}` }));
    return el("section", { class: "card", testid: "request-summary" },
      el("h2", { text: "Whole request" }),
      el("div", { class: "scroll" }, summaryRows(state.runs, (b) => b.summary)),
      warnings.length ? el("ul", { class: "warnings", testid: "warnings" }, warnings) : null);
  }

  function renderGroup(gi) {
    const first = state.runs.find((r) => r.body).body.groups[gi];
    const selected = state.selected[gi] || 0;
    const ref = first.gold_ref || (first.gold_refs ? first.gold_refs.join(", ") : "");
    const columns = state.runs.map((run) => renderColumn(gi, run, selected));
    return el("section", { class: "card group", testid: "group", data: { group: gi } },
      el("h2", {}, "Group ", el("code", { text: first.id }), el("small", { class: "ref", text: ref })),
      el("div", { class: "scroll" }, summaryRows(state.runs, (b) => b.groups[gi] && b.groups[gi].summary)),
      el("div", { class: "columns", data: { count: columns.length } }, columns));
  }

  function renderColumn(gi, run, selected) {
    const head = el("h3", { text: run.preset });
    if (run.error) {
      return el("div", { class: "column", testid: "preset-column", data: { preset: run.preset } }, head,
        el("div", { class: "error", role: "alert" }, errorBlock(run.error)));
    }
    const group = run.body.groups[gi];
    const table = el("table", { class: "rollouts" },
      el("thead", {}, el("tr", {}, ["#", "turn rewards", "outcome", "return", "A^g", "advantages", "calls", "bad", "ref"].map((t) => el("th", { text: t })))),
      el("tbody", {}, group.rollouts.map((r, ri) =>
        el("tr", {
          testid: "rollout-row", class: ri === selected ? "selected" : "", tabindex: "0",
          data: { rollout: ri, selected: ri === selected ? "true" : "false" },
          on: { click: () => select(gi, ri), keydown: (e) => { if (e.key === "Enter") select(gi, ri); } },
        },
        el("td", { text: String(ri) }),
        el("td", { class: "list", text: fmtList(r.turn_rewards) }),
        el("td", { text: fmt(r.outcome_reward) }),
        el("td", { text: fmt(r.return) }),
        el("td", { text: fmt(r.trajectory_advantage) }),
        el("td", { class: "list", text: fmtList(r.advantages) }),
        el("td", { text: fmt(r.num_calls, 0) }),
        el("td", { text: fmt(r.malformed_calls, 0) }),
        el("td", { text: fmt(r.reference, 0) })))));
    const rollout = group.rollouts[selected];
    return el("div", { class: "column", testid: "preset-column", data: { preset: run.preset } }, head,
      el("div", { class: "scroll" }, table),
      rollout ? renderDetail(rollout, selected, Boolean(group.gold_refs)) : null);
  }

  function select(gi, ri) {
    state.selected[gi] = ri;
    render();
  }

  function renderDetail(rollout, ri, references) {
    // with several references the matrix is the one of the reference the rollout was scored against
    const against = references ? ` against reference ${rollout.reference}` : "";
    return el("div", { class: "detail", testid: "rollout-detail", data: { rollout: ri } },
      el("h4", { text: `Rollout ${ri}: matching${against}` }),
      heatmap(rollout),
      el("h4", { text: "Per turn" }),
      bars(rollout));
  }

  // -- the similarity matrix --------------------------------------------------------------------------
  function heatmap(rollout) {
    const matrix = rollout.matrix;
    if (!matrix) {
      return el("p", { class: "muted", testid: "heatmap-missing", text: "no similarity matrix in this answer" });
    }
    const pred = matrix.predicted || [];
    const gold = matrix.gold || [];
    if (!pred.length || !gold.length) {
      return el("p", { class: "muted", testid: "heatmap", data: { rows: pred.length, cols: gold.length },
        text: !pred.length ? "no predicted call was parsed" : "the gold trace has no call" });
    }
    const assigned = new Map();
    for (const m of rollout.matches || []) if (m.gold !== null && m.gold !== undefined) assigned.set(`${m.turn}.${m.call}`, m);
    const plan = matrix.plan || null;
    const head = el("tr", {}, el("th", { class: "corner", text: "predicted \\ gold" }),
      gold.map((g, j) => el("th", { class: "gold", title: g.name, text: `g${j} ${g.name}` })));
    const rows = pred.map((p, i) => {
      const match = assigned.get(`${p.turn}.${p.call}`);
      return el("tr", {},
        el("th", { class: "pred", title: p.name, text: `t${p.turn}.c${p.call} ${p.name}` }),
        gold.map((g, j) => {
          const v = matrix.similarity[i][j];
          const isAssigned = match !== undefined && match.gold === j;
          const tip = `S(${p.name} @ t${p.turn}.c${p.call}, g${j} ${g.name}) = ${v}` + (plan ? `, plan = ${fmt(plan[i][j], 4)}` : "") +
            (isAssigned ? `, assigned (reward ${fmt(match.reward)})` : "");
          const cell = el("td", {
            testid: "cell", class: "cell" + (isAssigned ? " assigned" : "") + (v > 0.6 ? " dark" : ""), title: tip,
            data: { row: i, col: j, value: String(v), assigned: isAssigned ? "true" : "false" },
          }, fmt(v, 2));
          cell.style.backgroundColor = shade(v);
          return cell;
        }));
    });
    return el("div", { class: "scroll" },
      el("table", { class: "heatmap", testid: "heatmap", data: { rows: pred.length, cols: gold.length } },
        el("thead", {}, head), el("tbody", {}, rows)),
      el("p", { class: "legend" }, el("span", { class: "swatch assigned-swatch" }), " assigned pair", plan ? " · hover a cell for its transport plan entry" : ""));
  }

  function shade(v) {
    const x = Math.max(0, Math.min(1, Number(v) || 0));
    return `hsl(212, ${40 + 40 * x}%, ${97 - 55 * x}%)`;
  }

  // -- per-turn bars ----------------------------------------------------------------------------------
  function bars(rollout) {
    const rewards = rollout.turn_rewards || [];
    const advs = rollout.advantages || [];
    const n = Math.max(rewards.length, advs.length);
    const values = [...rewards, ...advs].filter((v) => typeof v === "number");
    const pos = Math.max(0, ...values), neg = Math.max(0, ...values.map((v) => -v));
    const top = Math.max(pos, neg, 1e-9);
    // the zero line at `mid`: room above for the positive bars and their labels, below for the negative
    // ones, their labels and the turn labels
    const slot = 64, bar = 24, scale = 64 / top, up = pos * scale, down = neg * scale;
    const mid = up + 16, h = mid + down + 30, pad = 40;
    const width = pad + n * slot + 8;
    const chart = svg("svg", { width, height: h, viewBox: `0 0 ${width} ${h}`, class: "bars", role: "img",
      "aria-label": "per-turn rewards and advantages" });
    chart.append(svg("line", { x1: pad - 4, x2: width, y1: mid, y2: mid, class: "axis" }));
    chart.append(svg("text", { x: 2, y: mid + 4, class: "tick" }, document.createTextNode("0")));
    if (pos > 0) chart.append(svg("text", { x: 2, y: mid - up + 8, class: "tick" }, document.createTextNode(fmt(pos, 2))));
    if (neg > 0) chart.append(svg("text", { x: 2, y: mid + down, class: "tick" }, document.createTextNode(fmt(-neg, 2))));
    for (let t = 0; t < n; t++) {
      const x0 = pad + t * slot;
      [[rewards[t], "reward"], [advs[t], "advantage"]].forEach(([v, kind], k) => {
        if (v === undefined || v === null) return;
        const len = Math.abs(v) * scale;
        const y = v >= 0 ? mid - len : mid;
        const rect = svg("rect", { x: x0 + k * (bar + 4), y, width: bar, height: Math.max(len, 0.5), class: kind,
          "data-testid": kind === "reward" ? "reward-bar" : "advantage-bar", "data-turn": t, "data-value": v });
        rect.append(svg("title", {}, document.createTextNode(`turn ${t} ${kind} ${v}`)));
        chart.append(rect);
        chart.append(svg("text", { x: x0 + k * (bar + 4) + bar / 2, y: v >= 0 ? y - 3 : y + len + 11, class: "value" },
          document.createTextNode(fmt(v, 2))));
      });
      chart.append(svg("text", { x: x0 + bar + 2, y: h - 3, class: "turn" }, document.createTextNode(`turn ${t}`)));
    }
    return el("div", { class: "scroll", testid: "turn-bars" }, chart,
      el("p", { class: "legend" }, el("span", { class: "swatch reward" }), " turn reward  ",
        el("span", { class: "swatch advantage" }), " advantage (on every token of the turn)"));
  }

  // -- example, upload, samples -----------------------------------------------------------------------
  async function loadExample(andScore) {
    clearError();
    const res = await fetch("ui/example.json");
    const doc = await res.json();
    setRequest(doc, ["matchtir-km", "matchtir-reference-km"]);
    setStatus("example loaded: two real gold traces (BFCL parallel, tau2-bench airline)");
    // rollout 1 of the first group is where greedy and optimal matching differ
    if (andScore) await score([1]);
  }

  async function upload(event) {
    const file = event.target.files[0];
    if (!file) return;
    $("request-input").value = await file.text();
    event.target.value = "";
    try {
      const doc = readRequest();
      if (doc.preset) fillSelects([doc.preset, ...chosenPresets().slice(1)]);
      setStatus(`loaded ${file.name}`);
    } catch (err) {
      showError(err, file.name);
    }
  }

  async function listSamples() {
    clearError();
    const box = $("samples");
    try {
      const data = await api("v1/inspect/samples");
      const items = data.samples.map((s) =>
        el("li", {}, el("button", { type: "button", testid: "sample-item", data: { id: s.id }, on: { click: () => openSample(s.id) } },
          `${new Date(s.time * 1000).toLocaleTimeString()} · ${s.preset} · ${s.groups} group(s), ${s.rollouts} rollout(s) · ${(s.bytes / 1024).toFixed(1)} KiB`)));
      box.replaceChildren(
        el("p", { class: "muted", text: `worker ${data.worker}: ${data.entries} of at most ${data.max_entries} requests kept` +
          (items.length ? "" : " (none scored yet)") }),
        el("ul", {}, items));
      box.hidden = false;
    } catch (err) {
      box.hidden = true;
      showError(err, "recent requests");
    }
  }

  async function openSample(id) {
    clearError();
    document.body.dataset.state = "loading";
    try {
      const sample = await api("v1/inspect/samples/" + encodeURIComponent(id));
      setRequest(sample.request, [sample.request.preset || sample.preset]);
      $("samples").hidden = true;
      setStatus(`opened request ${id}`);
      await score();
    } catch (err) {
      showError(err, "sample " + id);
    }
  }

  // -- start ------------------------------------------------------------------------------------------
  function init() {
    const key = $("api-key");
    key.value = sessionStorage.getItem(KEY_STORE) || "";
    key.addEventListener("change", () => {
      sessionStorage.setItem(KEY_STORE, key.value.trim());
      clearError();
      loadPresets();
    });
    $("score-button").addEventListener("click", () => score());
    $("example-button").addEventListener("click", () => loadExample(false));
    $("samples-button").addEventListener("click", listSamples);
    $("request-file").addEventListener("change", upload);
    fillSelects(["matchtir-km"]);
    const params = new URLSearchParams(location.search);
    const ready = loadPresets();
    if (params.get("example")) ready.then(() => loadExample(true));
    else if (params.get("sample")) ready.then(() => openSample(params.get("sample")));
  }

  init();
})();
