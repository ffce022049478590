"use strict";
// segser's page: upload a file (POST /predict) or stream the microphone (WebSocket /stream)
// and draw the timeline as it grows: a colour strip per emotion and probability curves.
// A live session draws its last WINDOW_S seconds and lists its newest TABLE_ROWS segments, so the page's
// memory stays flat however long it runs; every segment is kept as one compact row for the downloads.
const COLORS = { angry: "#d7263d", disgust: "#6b8e23", fear: "#7b2cbf", happy: "#f5a300", neutral: "#8d99ae",
  sad: "#1b6ca8", surprise: "#00a6a6", calm: "#2a9d8f", boredom: "#9c6644", excited: "#ff6f59",
  frustrated: "#c1121f", other: "#adb5bd", uncertain: "#d9dde5", "no speech": "#f1f2f5" };
const WINDOW_S = 60, TABLE_ROWS = 300;
const $ = (id) => document.getElementById(id);
const state = { classes: [], segments: [], rows: [], columns: [], decision: null, live: null, speakers: [],
  model: "", heard: 0, count: 0, picked: false };

function color(label) { return COLORS[label] || "#444"; }

function setStatus(text) { $("status").textContent = text; }

function reset(classes, model) {
  Object.assign(state, { classes, model: model || "", segments: [], rows: [], columns: [], decision: null,
    speakers: [], heard: 0, count: 0 });
  $("speaker-summary").innerHTML = ""; $("transcript").innerHTML = "";
  $("segments").innerHTML = ""; $("count").textContent = "0";
  $("decision").textContent = "Listening…"; $("decision").dataset.label = "";
  $("now").textContent = "–"; $("now").dataset.label = ""; $("heard").textContent = "";
  $("legend").innerHTML = classes.concat(["uncertain", "no speech"])
    .map((c) => `<span data-class="${c}" style="--c:${color(c)}">${c}</span>`).join("");
  $("download-csv").disabled = $("download-json").disabled = true;
  draw();
}

function addSegment(s) {
  if (!state.columns.length) state.columns = Object.keys(s).filter((k) => k !== "type");
  state.rows.push(state.columns.map((k) => s[k]));
  state.count += 1;
  state.segments.push(s);
  if (state.live) {  // the drawn window scrolls: older segments leave it
    const from = s.end - WINDOW_S;
    while (state.segments.length && state.segments[0].end < from) state.segments.shift();
  }
  const row = document.createElement("tr");
  row.dataset.label = s.label;
  row.innerHTML = `<td>${s.start.toFixed(2)}</td><td>${s.end.toFixed(2)}</td>` +
    `<td style="color:${color(s.label)}">${s.label}</td><td>${s.score == null ? "" : s.score.toFixed(2)}</td>`;
  const table = $("segments");
  table.appendChild(row);
  while (table.childElementCount > TABLE_ROWS) table.removeChild(table.firstElementChild);
  $("count").textContent = state.count > TABLE_ROWS ? `newest ${TABLE_ROWS} of ${state.count}` : String(state.count);
  if (s.label !== "no speech") state.heard += (s.end - s.start) * (s.speech ?? 1);
  if (state.live) showNow(s);  // live: the headline is what is heard now; a file's is its clip decision
  $("download-csv").disabled = $("download-json").disabled = false;
}

// the label in large type, and beside it, small, the probability it stands on (a 0.28 is not a sure thing)
function showHeadline(label, score) {
  const now = $("now");
  now.textContent = label; now.dataset.label = label; now.style.setProperty("--c", color(label));
  if (score != null) {
    const p = document.createElement("span");
    p.className = "p"; p.textContent = ` ${Number(score).toFixed(2)}`;
    now.appendChild(p);
  }
}

function showNow(s) {
  showHeadline(s.label, s.score);
  if (s.adapted_on_s === undefined) return;
  $("heard").textContent = s.adapted_on_s > 0
    ? `Adapted to this voice on ${s.adapted_on_s.toFixed(0)} s of its speech.`
    : `Heard ${state.heard.toFixed(0)} s of this voice; not adapted yet (it waits for 10 segments of speech, ` +
      "and keeps off while it hears one mood).";
}

function csvText() {
  const cell = (v) => v == null ? "" : typeof v === "number" ? String(v) : `"${String(v).replace(/"/g, '""')}"`;
  return [state.columns.join(",")].concat(state.rows.map((r) => r.map(cell).join(","))).join("\n") + "\n";
}

function jsonDoc() {
  return { model: state.model, classes: state.classes, decision: state.decision,
    segments: state.rows.map((r) => Object.fromEntries(state.columns.map((k, i) => [k, r[i]]))) };
}

function download(name, text, type) {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const a = document.createElement("a");
  a.href = url; a.download = name; document.body.appendChild(a); a.click(); a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

// with words, each utterance reads as a line of a transcript: who said it, how they felt, what they said
function showTranscript(rows) {
  const esc = (s) => String(s).replace(/[&<>"]/g, (ch) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[ch]);
  $("transcript").innerHTML = rows.filter((s) => s.text).map((s) => {
    const who = s.speaker && s.speaker !== "-" ? `<b>${esc(s.speaker)}</b> ` : "";
    const score = s.score == null ? "" : ` ${s.score.toFixed(2)}`;
    return `<li data-label="${esc(s.label)}" style="--c:${color(s.label)}"><span class="t">${s.start.toFixed(1)}s</span> ` +
      `${who}<span class="e">(${esc(s.label)}${score})</span> ${esc(s.text)}</li>`;
  }).join("");
}

function showDecision(d) {
  state.decision = d;
  const el = $("decision");
  el.dataset.label = d.label || "";
  const score = d.score == null ? "" : `score ${Number(d.score).toFixed(2)}, `;
  el.innerHTML = d.label ? `Clip: <b style="color:${color(d.label)}">${d.label}</b> (${score}` +
    `${d.n_speech ?? d.n_segments} of ${d.n_segments} segments with speech, rule ${d.rule})` : "No segment yet.";
  if (d.label) showHeadline(d.label, d.score);  // the whole recording's decision ("uncertain" near chance) heads the page
}

function draw() {
  const cv = $("timeline"), g = cv.getContext("2d");
  // one strip per speaker when speakers were found (a lane each), else one
  const lanes = state.speakers.length ? state.speakers : [null];
  const W = cv.width, H = cv.height, left = 44, right = 12, top = 10, gap = 14, bottom = 26;
  const strip = lanes.length > 1 ? Math.min(34, 22 * lanes.length) : 34, laneH = strip / lanes.length;
  g.clearRect(0, 0, W, H);
  const last = state.segments.length ? state.segments[state.segments.length - 1].end : 0;
  const end = state.live ? Math.max(WINDOW_S, last) : Math.max(10, ...state.segments.map((s) => s.end));
  const t0 = state.live ? end - WINDOW_S : 0, span = end - t0;
  const x = (t) => left + (W - left - right) * (t - t0) / span;
  const plotTop = top + strip + gap, plotH = H - plotTop - bottom;
  const y = (p) => plotTop + plotH * (1 - p);
  g.font = "12px system-ui, sans-serif"; g.fillStyle = "#5c6475"; g.strokeStyle = "#e6e8ee";
  for (let p = 0; p <= 1.0001; p += 0.25) {
    g.beginPath(); g.moveTo(left, y(p)); g.lineTo(W - right, y(p)); g.stroke();
    g.fillText(p.toFixed(2), 6, y(p) + 4);
  }
  const step = span > 120 ? 30 : span > 40 ? 10 : span > 15 ? 5 : 1;
  for (let t = Math.ceil(t0 / step) * step; t <= end; t += step) g.fillText(`${t}s`, x(t) - 6, H - 8);
  lanes.forEach((sp, k) => {
    if (sp !== null) { g.fillStyle = "#5c6475"; g.fillText(sp, 6, top + k * laneH + laneH / 2 + 4); }
  });
  for (const s of state.segments) {
    const k = s.speaker === undefined ? 0 : lanes.indexOf(s.speaker);
    if (k < 0) continue;  // nobody speaks there
    g.fillStyle = color(s.label);
    g.fillRect(x(s.start), top + k * laneH + 1, Math.max(1, x(s.end) - x(s.start) - 1), laneH - 2);
  }
  for (const c of state.classes) {
    g.strokeStyle = color(c); g.lineWidth = 2; g.beginPath();
    let pen = false;  // segments without speech have no probabilities: the curve breaks there
    state.segments.forEach((s) => {
      const p = s["p_" + c];
      if (p == null) { pen = false; return; }
      const px = x((s.start + s.end) / 2), py = y(p);
      if (!pen) g.moveTo(px, py); else g.lineTo(px, py);
      pen = true;
    });
    g.stroke();
  }
  g.lineWidth = 1;
}

async function loadModels() {
  try {
    const models = await (await fetch("/models")).json();
    // a model with trailing windows answers as soon as each segment ends: the one streams get unless one is picked
    const live = (m) => m.segmentation && m.segmentation.context === "trailing" ? " · live" : "";
    $("model").innerHTML = models.map((m) => `<option value="${m.name}">${m.name} (${m.classes.join(", ")})${live(m)}</option>`).join("");
    setStatus("Ready.");
  } catch (e) { setStatus("Could not list the models: " + e); }
}

// the server chooses (uploads: its first model; streams: its live one) until a model is picked
function picked() { return state.picked ? `model=${encodeURIComponent($("model").value)}` : ""; }

async function analyseFile() {
  const f = $("file").files[0];
  if (!f) { setStatus("Choose a file first."); return; }
  setStatus(`Analysing ${f.name}…`);
  const form = new FormData(); form.append("file", f);
  const speakers = $("speakers").checked ? "&speakers=auto" : "";
  const words = $("transcribe").checked ? "&transcribe=true" : "";
  const r = await fetch(`/predict?${picked()}${speakers}${words}`, { method: "POST", body: form });
  const doc = await r.json();
  if (!r.ok) { setStatus(`${r.status}: ${doc.detail}`); return; }
  state.live = null;
  reset(doc.classes, doc.model);
  state.speakers = Object.keys(doc.speakers || {});
  $("speaker-summary").innerHTML = state.speakers.map((sp) => {
    const s = doc.speakers[sp], share = Object.entries(s.share).sort((a, b) => b[1] - a[1])
      .map(([e, v]) => `${e} ${Math.round(100 * v)}%`).join(", ");
    return `<li data-speaker="${sp}" data-label="${s.decision.label}"><b>${sp}</b>: ${s.speech_seconds.toFixed(1)} s of speech, ` +
      `<span style="color:${color(s.decision.label)}">${s.decision.label}</span>${share ? " (" + share + ")" : ""}</li>`;
  }).join("");
  doc.segments.forEach(addSegment);
  showTranscript(doc.segments);
  showDecision(doc.decision); draw();
  setStatus(`${doc.file}: ${doc.segments.length} segments` + (state.speakers.length ? `, ${state.speakers.length} speakers.` : "."));
}

async function startRecording() {
  $("record").disabled = true;
  let media;
  try {
    media = await navigator.mediaDevices.getUserMedia({ audio: { channelCount: 1, echoCancellation: false,
      noiseSuppression: false, autoGainControl: false } });
  } catch (e) { setStatus("No microphone: " + e); $("record").disabled = false; return; }
  const ctx = new AudioContext();
  const proto = location.protocol === "https:" ? "wss" : "ws";
  const adapt = $("adapt").checked ? "auto" : "none";
  const ws = new WebSocket(`${proto}://${location.host}/stream?${picked()}` +
    `&rate=${ctx.sampleRate}&format=f32le&channels=1&adapt=${adapt}`);
  ws.binaryType = "arraybuffer";
  const source = ctx.createMediaStreamSource(media);
  const proc = ctx.createScriptProcessor(4096, 1, 1);
  state.live = { ws, ctx, media, source, proc };
  ws.onmessage = (ev) => {
    const m = JSON.parse(ev.data);
    handle(m);
    if (m.type === "ready") {
      proc.onaudioprocess = (e) => { if (ws.readyState === 1) ws.send(new Float32Array(e.inputBuffer.getChannelData(0)).buffer); };
      source.connect(proc); proc.connect(ctx.destination);
      $("stop").disabled = false;
      setStatus(`Recording at ${ctx.sampleRate} Hz…`);
    }
  };
  ws.onclose = () => { stopCapture(); $("record").disabled = false; $("stop").disabled = true; };
  ws.onerror = () => setStatus("The stream was interrupted.");
}

// one handler for the stream's messages (tests drive it directly to play hours of segments)
function handle(m) {
  if (m.type === "ready") reset(m.classes, m.model);
  else if (m.type === "segment") { addSegment(m); draw(); setStatus(`Recording… ${m.end.toFixed(1)} s`); }
  else if (m.type === "decision") { showDecision(m); setStatus("Done."); }
  else if (m.type === "error") setStatus("Error: " + m.detail);
}

function stopCapture() {
  const l = state.live;
  if (!l) return;
  try { l.source.disconnect(); l.proc.disconnect(); } catch (e) { /* already disconnected */ }
  l.media.getTracks().forEach((t) => t.stop());
  l.ctx.close();
}

function stopRecording() {
  const l = state.live;
  if (!l) return;
  stopCapture();
  $("stop").disabled = true;
  if (l.ws.readyState === 1) l.ws.send(JSON.stringify({ type: "end" }));
  setStatus("Finishing…");
}

$("analyse").addEventListener("click", analyseFile);
$("model").addEventListener("change", () => { state.picked = true; });
$("download-csv").addEventListener("click", () => download("segser-timeline.csv", csvText(), "text/csv"));
$("download-json").addEventListener("click", () =>
  download("segser-timeline.json", JSON.stringify(jsonDoc(), null, 1), "application/json"));
window.segserPage = { handle, csvText, jsonDoc, state, live: (on) => { state.live = on ? { test: true } : null; } };
$("record").addEventListener("click", startRecording);
$("stop").addEventListener("click", stopRecording);
loadModels(); draw();
