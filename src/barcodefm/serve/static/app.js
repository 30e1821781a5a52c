// The page of `barcodefm serve`: send an upload, follow its job, show the results.
// Every text that comes from an upload is set with textContent, never parsed as HTML.
"use strict";

const PAGE_ROWS = 100;
const BANDS = [[0.95, "#1f6f8b"], [0.8, "#57a0b8"], [0.5, "#e0a33a"], [0, "#c8553d"]];
const state = { info: null, refMap: null, job: null, shown: null, rows: [], page: 0, selected: 0, xhr: null, polling: null };

const $ = (id) => document.getElementById(id);
function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "text") node.textContent = v;
    else if (k === "class") node.className = v;
    else node.setAttribute(k, v);
  }
  for (const c of children) node.append(c);
  return node;
}
const fmt = (p) => (p == null ? "" : p.toFixed(2));
const minProb = () => parseFloat($("minprob").value);

// The min-prob cutoff of `barcodefm classify --min-prob` (serve/results.py, cut_at): ranks from the
// first one below it are blank; a rank's inconsistency counts only while it is reported.
function cutAt(probs, min) {
  if (!(min > 0)) return probs.length;
  const j = probs.findIndex((p) => p < min);
  return j < 0 ? probs.length : j;
}
const isConsistent = (row, cut) => row.inconsistent.every((j) => j >= cut);

function colour(name) {
  if (name == null) return "#c9ced4";
  let h = 0;
  for (const ch of name) h = (h * 31 + ch.codePointAt(0)) >>> 0;
  return `hsl(${h % 360}, ${60 + (h >> 9) % 25}%, ${44 + (h >> 17) % 14}%)`; // never near black or white
}

function showError(message, rejects) {
  $("error").textContent = message;
  $("error").hidden = !message;
  if (rejects && rejects.length) {
    $("results").hidden = false;
    renderRejects(rejects);
  }
}

function setBusy(busy) {
  $("submit").disabled = busy;
  $("cancel").hidden = !busy;
  $("progress").hidden = !busy;
}

async function init() {
  try {
    state.info = await (await fetch("/api/info")).json();
  } catch (e) {
    $("model-line").textContent = "the server does not answer: is barcodefm serve running?";
    return;
  }
  const info = state.info;
  $("model-line").textContent =
    `model ${info.model}: ranks ${info.ranks.join(", ")}` +
    (info.references ? `; ${info.references.toLocaleString()} training references` : "; no reference set") +
    `; up to ${info.queue_size} uploads wait their turn`;
  $("limit").textContent = info.max_upload_mb;
  $("marker").value = info.marker;
  for (const rank of info.ranks) $("colour-rank").append(el("option", { value: rank, text: rank }));
  $("colour-rank").value = info.ranks[Math.min(1, info.ranks.length - 1)];
  $("map-method").textContent = info.map_method || "This model folder has no reference set: no map.";
  state.refMap = await (await fetch("/api/reference-map")).json();
}

function submit() {
  showError("");
  state.job = null;
  const file = $("file").files[0];
  const text = $("paste").value;
  if (!file && !text.trim()) return showError("Paste sequences or choose a file first.");
  const body = file || new Blob([text], { type: "text/plain" });
  const limit = state.info.max_upload_mb * 1048576;
  if (body.size > limit)
    return showError(`${file ? file.name : "The pasted text"} is ${(body.size / 1048576).toFixed(1)} MB: ` +
      `this server takes up to ${state.info.max_upload_mb} MB (split the file, or restart it with a larger --max-upload-mb).`);
  const params = new URLSearchParams({ name: file ? file.name : "pasted sequences", source: file ? "file" : "paste",
    format: $("format").value, marker: $("marker").value || "all" });
  const xhr = new XMLHttpRequest();
  state.xhr = xhr;
  xhr.open("POST", "/api/jobs?" + params);
  xhr.setRequestHeader("Content-Type", "application/octet-stream");
  xhr.upload.onprogress = (e) => {
    if (!e.lengthComputable) return;
    $("progress").max = e.total;
    $("progress").value = e.loaded;
    $("status").textContent = `uploading: ${(e.loaded / 1048576).toFixed(1)} of ${(e.total / 1048576).toFixed(1)} MB`;
  };
  xhr.upload.onload = () => { $("progress").removeAttribute("value"); $("status").textContent = "reading the records…"; };
  xhr.onload = () => {
    state.xhr = null;
    let answer = {};
    try { answer = JSON.parse(xhr.responseText); } catch (e) { answer = { error: xhr.responseText }; }
    if (xhr.status === 202) return follow(answer.id);
    setBusy(false);
    $("status").textContent = "";
    showError(answer.error || `the server answered ${xhr.status}`, answer.rejects);
  };
  xhr.onerror = () => { state.xhr = null; setBusy(false); $("status").textContent = "";
    showError("The upload failed: the server closed the connection (is barcodefm serve still running?)."); };
  xhr.onabort = () => { state.xhr = null; setBusy(false); $("status").textContent = "upload cancelled"; };
  setBusy(true);
  $("status").textContent = "uploading…";
  xhr.send(body);
}

function follow(jobId) {
  state.job = jobId;
  const tick = async () => {
    let job;
    try {
      const response = await fetch(`/api/jobs/${jobId}`);
      job = await response.json();
      if (!response.ok) throw new Error(job.error || response.status);
    } catch (e) {
      if (state.job !== jobId) return;
      setBusy(false);
      return showError(`Lost the job: ${e.message}`);
    }
    if (state.job !== jobId) return; // cancelled, or another upload started meanwhile
    if (job.state === "queued") {
      $("progress").removeAttribute("value");
      $("status").textContent = `waiting for the model: ${job.position} upload(s) ahead; ${job.total} records`;
    } else if (job.state === "running") {
      $("progress").max = job.total;
      $("progress").value = job.done;
      $("status").textContent = `identifying: ${job.done} of ${job.total} records`;
    }
    if (job.state === "queued" || job.state === "running") {
      state.polling = setTimeout(tick, 400);
      return;
    }
    state.polling = null;
    setBusy(false);
    if (job.state === "done") {
      $("status").textContent = `done: ${job.rows.length} records in ${job.seconds.toFixed(1)} s`;
      show(job);
    } else if (job.state === "cancelled") {
      $("status").textContent = "cancelled";
    } else {
      $("status").textContent = "";
      showError(job.error || "the job failed");
    }
  };
  tick();
}

function cancel() {
  if (state.xhr) return state.xhr.abort();
  const jobId = state.job;
  state.job = null; // stops following it
  if (state.polling) clearTimeout(state.polling);
  state.polling = null;
  if (jobId) fetch(`/api/jobs/${jobId}`, { method: "DELETE" });
  setBusy(false);
  $("status").textContent = "cancelled";
}

function show(job) {
  state.shown = job.id;
  state.rows = job.rows;
  state.page = 0;
  state.selected = 0;
  $("results").hidden = false;
  $("job-name").textContent = job.name;
  $("summary").textContent = job.summary;
  const head = el("tr", {}, el("th", { text: "id" }));
  for (const rank of state.info.ranks) head.append(el("th", { text: rank }));
  head.append(el("th", { text: "consistent" }));
  if (state.info.novelty) head.append(el("th", { text: "novelty" }));
  if (state.info.references) head.append(el("th", { text: "nearest reference" }));
  $("calls").tHead.replaceChildren(head);
  renderRejects(job.rejects);
  refresh();
}

function refresh() {
  $("minprob-value").textContent = minProb().toFixed(2);
  const q = minProb() > 0 ? `?min_prob=${minProb()}` : "";
  $("download").href = `/api/jobs/${state.shown}/table.tsv${q}`;
  renderTable();
  renderNeighbours();
  drawMap();
  drawConfidence();
}

function lowestLabel(labels) {
  for (let j = labels.length - 1; j >= 0; j--) if (labels[j]) return labels[j];
  return "";
}

function renderTable() {
  const rows = state.rows, min = minProb(), ranks = state.info.ranks;
  const first = state.page * PAGE_ROWS, last = Math.min(rows.length, first + PAGE_ROWS);
  const body = [];
  for (let i = first; i < last; i++) {
    const row = rows[i], other = row.status === "other_marker";
    const cut = other ? 0 : cutAt(row.probs, min); // another marker: no name at any rank
    const id = el("td", { text: row.id + " " });
    if (row.strand === "reverse") id.append(el("span", { class: "badge", text: "reverse strand" }));
    if (other) id.append(el("span", { class: "badge bad", text: "not the model's marker" }));
    const tr = el("tr", { "data-index": i }, id);
    if (i === state.selected) tr.className = "selected";
    ranks.forEach((rank, j) => {
      const reported = j < cut;
      const td = el("td", { class: reported ? "call" : "call blank" });
      td.style.borderLeftColor = reported ? colour(row.labels[j]) : "transparent";
      td.append(el("span", { text: reported ? row.labels[j] : "—" }), el("span", { class: "p", text: other ? "" : fmt(row.probs[j]) }));
      if (!reported) td.title = other ? `shares ${fmt(row.marker_kmers)} of its 12-mers with the references` : `below min-prob: ${row.labels[j]} (${fmt(row.probs[j])})`;
      tr.append(td);
    });
    const consistent = isConsistent(row, cut);
    tr.append(el("td", {}, other ? "" : consistent ? "yes" : el("span", { class: "badge bad", text: "no" })));
    if (state.info.novelty) {
      const td = el("td", { text: row.novelty.toFixed(4) + " " });
      if (row.likely_novel && !other) td.append(el("span", { class: "badge", text: "likely novel" }));
      tr.append(td);
    }
    if (row.neighbours) {
      const n = row.neighbours[0];
      const identity = n.identity == null ? "" : `, ${(100 * n.identity).toFixed(1)}% identity`;
      tr.append(el("td", { text: `${lowestLabel(n.labels)} (${n.similarity.toFixed(3)}${identity})` }));
    }
    body.push(tr);
  }
  $("calls").tBodies[0].replaceChildren(...body);
  const pages = Math.max(1, Math.ceil(rows.length / PAGE_ROWS));
  $("page-info").textContent = `rows ${first + 1}–${last} of ${rows.length} (page ${state.page + 1} of ${pages})`;
  $("prev").disabled = state.page === 0;
  $("next").disabled = state.page >= pages - 1;
}

function renderNeighbours() {
  const card = $("neighbours-card");
  const row = state.rows[state.selected];
  card.hidden = !row || !row.neighbours;
  if (card.hidden) return;
  $("neighbours-of").textContent = `of ${row.id}`;
  const head = el("tr", {}, el("th", { text: "#" }), el("th", { text: "reference" }), el("th", { text: "cosine" }),
    el("th", { text: "identity" }));
  for (const rank of state.info.ranks) head.append(el("th", { text: rank }));
  $("neighbours").tHead.replaceChildren(head);
  $("neighbours").tBodies[0].replaceChildren(...row.neighbours.map((n, k) => {
    const tr = el("tr", {}, el("td", { text: k + 1 }), el("td", { text: n.ref }), el("td", { text: n.similarity.toFixed(4) }),
      el("td", { text: n.identity == null ? "" : `${(100 * n.identity).toFixed(1)}%` }));
    for (const label of n.labels) tr.append(el("td", { text: label || "" }));
    return tr;
  }));
}

function renderRejects(rejects) {
  $("rejects-card").hidden = !rejects.length;
  $("rejects-count").textContent = `(${rejects.length}${rejects.length >= 1000 ? "+" : ""})`;
  $("rejects").tBodies[0].replaceChildren(...rejects.map((r) =>
    el("tr", {}, el("td", { text: r.record }), el("td", { text: r.id }), el("td", { text: r.reason }), el("td", { text: r.detail }))));
}

function drawMap() {
  const canvas = $("map"), ctx = canvas.getContext("2d"), ref = state.refMap;
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  const queries = state.rows.filter((r) => r.xy);
  if (!ref || !queries.length) return;
  const rank = $("colour-rank").value, j = state.info.ranks.indexOf(rank), min = minProb();
  const xs = ref.x.concat(queries.map((r) => r.xy[0])), ys = ref.y.concat(queries.map((r) => r.xy[1]));
  const [x0, x1, y0, y1] = [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
  const pad = 12, w = canvas.width - 2 * pad, h = canvas.height - 2 * pad;
  const px = (x) => pad + ((x - x0) / (x1 - x0 || 1)) * w, py = (y) => pad + (1 - (y - y0) / (y1 - y0 || 1)) * h;
  const names = ref.ranks[rank].names, index = ref.ranks[rank].index;
  ctx.globalAlpha = 0.35;
  for (let i = 0; i < ref.x.length; i++) {
    ctx.fillStyle = colour(index[i] >= 0 ? names[index[i]] : null);
    ctx.fillRect(px(ref.x[i]) - 1, py(ref.y[i]) - 1, 2, 2);
  }
  ctx.globalAlpha = 1;
  ctx.lineWidth = 1.5;
  const counts = new Map();
  for (const row of queries) {
    const label = j < cutAt(row.probs, min) ? row.labels[j] : null;
    counts.set(label, (counts.get(label) || 0) + 1);
    ctx.beginPath();
    ctx.arc(px(row.xy[0]), py(row.xy[1]), 5, 0, 2 * Math.PI);
    ctx.fillStyle = colour(label);
    ctx.fill();
    ctx.strokeStyle = "#111";
    ctx.stroke();
  }
  const top = [...counts.entries()].sort((a, b) => b[1] - a[1]).slice(0, 12);
  $("legend").replaceChildren(el("span", { class: "muted", text: "queries (outlined) by their call: " }),
    ...top.map(([label, n]) => {
      const dot = el("i");
      dot.style.background = colour(label);
      return el("span", {}, dot, `${label == null ? "blank" : label} (${n})`);
    }));
}

function drawConfidence() {
  const ranks = state.info.ranks, rows = state.rows, min = minProb();
  const NS = "http://www.w3.org/2000/svg", rowH = 34, left = 80, width = 300, top = 8;
  const svg = document.createElementNS(NS, "svg");
  svg.setAttribute("width", left + width + 60);
  svg.setAttribute("height", top + ranks.length * rowH + 24);
  const add = (tag, attrs, text) => {
    const n = document.createElementNS(NS, tag);
    for (const [k, v] of Object.entries(attrs)) n.setAttribute(k, v);
    if (text != null) n.textContent = text;
    svg.append(n);
    return n;
  };
  ranks.forEach((rank, j) => {
    const y = top + j * rowH;
    add("text", { x: 0, y: y + 15, "font-size": 12 }, rank);
    let x = left;
    for (let b = 0; b < BANDS.length; b++) {
      const [low, fill] = BANDS[b], high = b === 0 ? Infinity : BANDS[b - 1][0];
      const n = rows.filter((r) => r.probs[j] >= low && r.probs[j] < high).length;
      const bw = rows.length ? (n / rows.length) * width : 0;
      if (bw > 0) add("rect", { x, y: y + 2, width: bw, height: 18, fill }).append(
        Object.assign(document.createElementNS(NS, "title"), { textContent: `${rank}: ${n} with p ${b === 0 ? "≥ 0.95" : `in [${low}, ${high})`}` }));
      x += bw;
    }
    const kept = rows.filter((r) => j < cutAt(r.probs, min)).length;
    add("text", { x: left + width + 6, y: y + 15, "font-size": 11, fill: "#66707c" }, `${kept}/${rows.length}`);
  });
  const legend = ["p ≥ 0.95", "0.8–0.95", "0.5–0.8", "< 0.5"];
  legend.forEach((text, b) => {
    add("rect", { x: left + b * 75, y: top + ranks.length * rowH + 4, width: 10, height: 10, fill: BANDS[b][1] });
    add("text", { x: left + b * 75 + 14, y: top + ranks.length * rowH + 13, "font-size": 11 }, text);
  });
  $("confidence").replaceChildren(svg);
}

document.addEventListener("DOMContentLoaded", () => {
  init();
  $("submit").addEventListener("click", submit);
  $("cancel").addEventListener("click", cancel);
  $("minprob").addEventListener("input", refresh);
  $("colour-rank").addEventListener("change", drawMap);
  $("prev").addEventListener("click", () => { state.page--; renderTable(); });
  $("next").addEventListener("click", () => { state.page++; renderTable(); });
  $("calls").tBodies[0].addEventListener("click", (e) => {
    const tr = e.target.closest("tr");
    if (!tr) return;
    state.selected = parseInt(tr.dataset.index, 10);
    renderTable();
    renderNeighbours();
  });
});
