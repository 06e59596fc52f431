// The drawing page: pointer events -> strokes with timestamps -> the API -> the result.
// No dependencies: everything here is served by htr itself.
"use strict";

const pad = document.getElementById("pad");
const ctx = pad.getContext("2d");
const modelSelect = document.getElementById("model");
const keyInput = document.getElementById("key");
const statusLine = document.getElementById("status");
const textOut = document.getElementById("text");
const confidenceOut = document.getElementById("confidence");
const topOut = document.getElementById("top");
const sheet = document.getElementById("sheet");
const pageCanvas = document.getElementById("page");
const linesOut = document.getElementById("lines");
const PAGE_WIDTH = 900;  // the page view's largest width in canvas pixels

let models = {};        // name -> ModelInfo
let strokes = [];       // each: array of [x, y, t] in canvas pixels, t in seconds
let current = null;     // the stroke being drawn
let t0 = null;          // timeStamp (ms) of the first point of the ink
let inFlight = false;   // a recognition request is running
let dirty = false;      // the ink changed since the last request was sent
let lastSent = 0;       // performance.now() of the last request
let cleared = 0;        // bumped by Clear: answers to requests sent before it are stale
const LIVE_MS = 250;    // while writing, re-recognise at most this often

keyInput.value = localStorage.getItem("htr-api-key") || "";
keyInput.addEventListener("change", () => {
  localStorage.setItem("htr-api-key", keyInput.value);
  loadModels();
});

function headers(extra) {
  const h = Object.assign({}, extra);
  if (keyInput.value) h["X-API-Key"] = keyInput.value;
  return h;
}

function setStatus(message, isError) {
  statusLine.textContent = message;
  statusLine.className = isError ? "error" : "muted";
}

async function errorText(response) {
  try {
    const body = await response.json();
    return body.message || response.statusText;
  } catch (e) {
    return response.statusText;
  }
}

async function loadModels() {
  const response = await fetch("/v1/models", {headers: headers()});
  if (!response.ok) {
    setStatus(await errorText(response), true);
    if (response.status === 503) setTimeout(loadModels, 1000);
    return;
  }
  const list = (await response.json()).models;
  models = Object.fromEntries(list.map((m) => [m.name, m]));
  const chosen = localStorage.getItem("htr-model");
  modelSelect.replaceChildren(...list.map((m) => new Option(`${m.name} (${m.kind})`, m.name)));
  if (chosen in models) modelSelect.value = chosen;
  modelChanged();
  setStatus(list.length ? "ready" : "no models served", !list.length);
  document.body.dataset.ready = "1";
}

function model() { return models[modelSelect.value]; }

// Image models get what the user sees, as a PNG; ink models get the strokes.
function takesImages(m) { return m && m.inputs[0] === "image"; }

// Page models read a photo of a page: no writing pad, the page view instead.
function readsPages(m) { return m && m.kind === "image_page"; }

function modelChanged() {
  const m = model();
  localStorage.setItem("htr-model", modelSelect.value);
  document.getElementById("kind").textContent = m ? m.kind : "";
  const page = readsPages(m);
  pad.hidden = page;
  document.getElementById("undo").hidden = document.getElementById("clear").hidden = page;
  sheet.hidden = !page;
  showPage(null);
  redraw();
  showResult(null);
  if (strokes.length) { dirty = true; schedule(); }
}
modelSelect.addEventListener("change", modelChanged);

function penWidth() {
  return takesImages(model()) ? pad.height / 16 : 3;
}

function redraw() {
  ctx.fillStyle = "#fff";
  ctx.fillRect(0, 0, pad.width, pad.height);
  ctx.strokeStyle = "#000";
  ctx.fillStyle = "#000";
  ctx.lineWidth = penWidth();
  ctx.lineCap = ctx.lineJoin = "round";
  for (const s of strokes.concat(current ? [current] : [])) {
    if (s.length === 1) {
      ctx.beginPath();
      ctx.arc(s[0][0], s[0][1], ctx.lineWidth / 2, 0, 2 * Math.PI);
      ctx.fill();
      continue;
    }
    ctx.beginPath();
    ctx.moveTo(s[0][0], s[0][1]);
    for (const p of s.slice(1)) ctx.lineTo(p[0], p[1]);
    ctx.stroke();
  }
}

function point(event) {
  const r = pad.getBoundingClientRect();  // Includes the border; client* do not.
  if (t0 === null) t0 = event.timeStamp;
  return [(event.clientX - r.left - pad.clientLeft) * pad.width / pad.clientWidth,
          (event.clientY - r.top - pad.clientTop) * pad.height / pad.clientHeight,
          Math.max(0, (event.timeStamp - t0) / 1000)];
}

pad.addEventListener("pointerdown", (event) => {
  if (event.button !== 0) return;
  pad.setPointerCapture(event.pointerId);
  current = [point(event)];
  redraw();
  event.preventDefault();
});

pad.addEventListener("pointermove", (event) => {
  if (!current) return;
  // Coalesced events keep the full digitiser rate of pens between animation frames.
  const events = event.getCoalescedEvents ? event.getCoalescedEvents() : [];
  for (const e of events.length ? events : [event]) current.push(point(e));
  redraw();
  dirty = true;
  schedule();
});

function endStroke(event) {
  if (!current) return;
  strokes.push(current);
  current = null;
  redraw();
  dirty = true;
  schedule();
}
pad.addEventListener("pointerup", endStroke);
pad.addEventListener("pointercancel", endStroke);

document.getElementById("undo").addEventListener("click", () => {
  strokes.pop();
  if (!strokes.length) t0 = null;
  redraw();
  dirty = true;
  schedule();
});

document.getElementById("clear").addEventListener("click", () => {
  strokes = [];
  t0 = null;
  cleared += 1;
  redraw();
  showResult(null);
  dirty = false;
});

// One request at a time; the newest ink is sent as soon as the previous answer is in.
function schedule() {
  if (inFlight || !dirty) return;
  const wait = LIVE_MS - (performance.now() - lastSent);
  if (current && wait > 0) { setTimeout(schedule, wait); return; }
  recognise();
}

async function recognise() {
  const m = model();
  const ink = strokes.concat(current && current.length ? [current] : []);
  if (!m || !ink.length || readsPages(m)) {
    dirty = false;
    if (!ink.length) showResult(null);
    return;
  }
  dirty = false;
  inFlight = true;
  lastSent = performance.now();
  const sentAfter = cleared;
  try {
    let response;
    if (takesImages(m)) {
      const blob = await new Promise((resolve) => pad.toBlob(resolve, "image/png"));
      const form = new FormData();
      form.append("file", blob, "canvas.png");
      response = await fetch(`/v1/models/${encodeURIComponent(m.name)}/image`,
                             {method: "POST", headers: headers(), body: form});
    } else {
      response = await fetch(`/v1/models/${encodeURIComponent(m.name)}/ink`, {
        method: "POST", headers: headers({"Content-Type": "application/json"}),
        body: JSON.stringify({strokes: ink})});
    }
    if (sentAfter !== cleared) return;  // Its ink was cleared while it ran.
    if (!response.ok) {
      setStatus(await errorText(response), true);
    } else {
      showResult(await response.json());
      setStatus(`${Math.round(performance.now() - lastSent)} ms`, false);
    }
  } catch (e) {
    setStatus(`request failed: ${e}`, true);
  } finally {
    inFlight = false;
    if (dirty) schedule();
  }
}

// A photo or scan for a model that reads images: shown on the pad, sent as it is.
document.getElementById("upload").addEventListener("change", async (event) => {
  const file = event.target.files[0];
  event.target.value = "";
  const m = model();
  if (!file || !m) return;
  if (!takesImages(m)) { setStatus(`${m.name} reads ink, not images`, true); return; }
  strokes = [];
  current = null;
  t0 = null;
  cleared += 1;
  dirty = false;
  redraw();
  showPage(null);
  let bitmap = null;
  try {
    bitmap = await createImageBitmap(file);
    if (readsPages(m)) {
      showPage(null, bitmap);
    } else {
      const scale = Math.min(pad.width / bitmap.width, pad.height / bitmap.height);
      ctx.drawImage(bitmap, 0, 0, bitmap.width * scale, bitmap.height * scale);
    }
  } catch (e) {
    setStatus(`cannot show ${file.name}; sending it anyway`, true);
  }
  const form = new FormData();
  form.append("file", file, file.name);
  inFlight = true;
  lastSent = performance.now();
  try {
    const response = await fetch(`/v1/models/${encodeURIComponent(m.name)}/image`,
                                 {method: "POST", headers: headers(), body: form});
    if (!response.ok) {
      setStatus(await errorText(response), true);
      showResult(null);
    } else {
      const result = await response.json();
      showResult(result);
      if (result.page) showPage(result.page, bitmap);
      setStatus(`${file.name}: ${Math.round(performance.now() - lastSent)} ms`, false);
    }
  } catch (e) {
    setStatus(`request failed: ${e}`, true);
  } finally {
    inFlight = false;
  }
});

function showResult(result) {
  textOut.textContent = result && result.text != null ? result.text : "";
  textOut.className = "text" + (result && /latex/.test(result.kind) ? " latex" : "");
  confidenceOut.textContent = result && result.confidence != null
      ? `confidence ${(100 * result.confidence).toFixed(1)} %` : "";
  topOut.replaceChildren(...(result && result.top ? result.top : []).map((c) => {
    const li = document.createElement("li");
    li.dataset.label = c.label;
    li.textContent = `${c.label}  ${(100 * c.probability).toFixed(1)} %`;
    const bar = document.createElement("span");
    bar.className = "bar";
    bar.style.width = `${Math.round(200 * c.probability)}px`;
    li.appendChild(bar);
    return li;
  }));
  document.body.dataset.results = String(Number(document.body.dataset.results || 0) + 1);
}

// The page view: the photo, each found line's outline and what was read in it, in
// reading order (page JSON, htr.page/1: coordinates in the photo's pixels).
function pageLines(page) {
  const lines = page ? page.regions.flatMap((r) => r.lines) : [];
  return lines.sort((a, b) => a.reading_order - b.reading_order);
}

function percent(confidence) {
  return confidence == null ? "" : `${(100 * confidence).toFixed(1)} %`;
}

function showPage(page, bitmap) {
  const pc = pageCanvas.getContext("2d");
  if (bitmap) {
    const scale = Math.min(1, PAGE_WIDTH / bitmap.width);
    pageCanvas.width = Math.round(bitmap.width * scale);
    pageCanvas.height = Math.round(bitmap.height * scale);
    pc.drawImage(bitmap, 0, 0, pageCanvas.width, pageCanvas.height);
  } else if (!page) {
    pc.fillStyle = "#fff";
    pc.fillRect(0, 0, pageCanvas.width, pageCanvas.height);
  }
  const lines = pageLines(page);
  const scale = page && page.width ? pageCanvas.width / page.width : 1;
  pc.lineWidth = 2;
  pc.font = "14px system-ui, sans-serif";
  for (const line of lines) {
    pc.beginPath();
    line.polygon.forEach(([x, y], i) => (i ? pc.lineTo : pc.moveTo).call(pc, x * scale,
                                                                            y * scale));
    pc.closePath();
    pc.fillStyle = "rgba(220, 60, 30, 0.12)";
    pc.fill();
    pc.strokeStyle = "rgb(220, 60, 30)";
    pc.stroke();
    const label = `${line.reading_order + 1}. ${line.text} ${percent(line.confidence)}`;
    const [left, top] = [line.box[0] * scale, line.box[1] * scale];
    pc.fillStyle = "rgba(255, 255, 255, 0.85)";
    pc.fillRect(left, Math.max(0, top - 16), pc.measureText(label).width + 6, 16);
    pc.fillStyle = "rgb(150, 30, 10)";
    pc.fillText(label, left + 3, Math.max(12, top - 4));
  }
  linesOut.replaceChildren(...lines.map((line) => {
    const li = document.createElement("li");
    li.dataset.order = String(line.reading_order);
    li.textContent = line.text;
    const score = document.createElement("span");
    score.className = "score";
    score.textContent = percent(line.confidence);
    li.appendChild(score);
    return li;
  }));
}

redraw();
loadModels();
