// The demo page: a writing pad (pointer events: mouse, pen and touch alike), an upload,
// and the reading that POST /api/read returns. No framework, no build step.
"use strict";

const INK = 14; // stroke width in canvas pixels: a felt pen on a 240-pixel-high pad
const AUTO_READ_MS = 600; // read this long after the last stroke ends
// The image sent is the writing cut out of the pad with paper around it, so that it reads
// the same wherever and however large it is written: model.reading.preprocess tells ink from paper
// by which is rarer (a small "1" on the whole pad is under 1% ink), and erases tall straight
// strokes near the image's left and right edges as table borders (a "1" at the pad's edge).
const MARGIN_X = [0.5, 0.3]; // paper left and right: the larger of these x (height, width)
const MARGIN_Y = 0.25; // paper above and below, x the writing's height

const pad = document.getElementById("pad");
const ctx = pad.getContext("2d");
const result = document.getElementById("result");
const options = document.getElementById("options");
let strokes = 0; // strokes on the pad since it was last cleared
let ink = null; // [left, top, right, bottom] of everything written, in pad pixels
let source = null; // what was read last: {blob, name}, read again when an option changes
let requests = 0; // answers to older requests than the latest are dropped
let timer = null;
const active = new Map(); // pointerId -> last point, for every pointer now drawing

function clearPad() {
  ctx.fillStyle = "#fff"; // white paper, not transparency: the model reads pixels
  ctx.fillRect(0, 0, pad.width, pad.height);
  ctx.strokeStyle = ctx.fillStyle = "#000";
  ctx.lineWidth = INK;
  ctx.lineCap = ctx.lineJoin = "round";
  strokes = 0;
  ink = null;
}

function inked([x, y]) {
  const r = INK / 2 + 1;
  ink = ink ? [Math.min(ink[0], x - r), Math.min(ink[1], y - r),
               Math.max(ink[2], x + r), Math.max(ink[3], y + r)]
            : [x - r, y - r, x + r, y + r];
}

function point(event) {
  // The canvas keeps its 720x240 pixels whatever size CSS draws it at.
  const box = pad.getBoundingClientRect();
  return [(event.clientX - box.left) * (pad.width / box.width),
          (event.clientY - box.top) * (pad.height / box.height)];
}

function dot([x, y]) {
  inked([x, y]);
  ctx.beginPath();
  ctx.arc(x, y, INK / 2, 0, 2 * Math.PI);
  ctx.fill();
}

function line([x0, y0], [x1, y1]) {
  inked([x1, y1]);
  ctx.beginPath();
  ctx.moveTo(x0, y0);
  ctx.lineTo(x1, y1);
  ctx.stroke();
}

pad.addEventListener("pointerdown", (event) => {
  if (event.pointerType === "mouse" && event.button !== 0) return;
  event.preventDefault();
  try {
    pad.setPointerCapture(event.pointerId); // keep the stroke when it leaves the pad
  } catch (_) { /* a synthetic pointer has nothing to capture */ }
  clearTimeout(timer);
  const p = point(event);
  active.set(event.pointerId, p);
  dot(p);
});

pad.addEventListener("pointermove", (event) => {
  if (!active.has(event.pointerId)) return;
  event.preventDefault();
  // Coalesced events: the points the browser merged into this one, for smooth curves.
  const events = event.getCoalescedEvents ? event.getCoalescedEvents() : [];
  for (const e of events.length ? events : [event]) {
    const p = point(e);
    line(active.get(event.pointerId), p);
    active.set(event.pointerId, p);
  }
});

function endStroke(event) {
  if (!active.delete(event.pointerId)) return;
  strokes += 1;
  if (active.size === 0) {
    clearTimeout(timer);
    timer = setTimeout(readPad, AUTO_READ_MS);
  }
}
pad.addEventListener("pointerup", endStroke);
pad.addEventListener("pointercancel", endStroke);

function readPad() {
  clearTimeout(timer);
  if (strokes === 0) {
    showError("Write a number on the pad first, or upload an image.");
    return;
  }
  const count = strokes;
  toPaper().toBlob((blob) => send({blob, name: "pad.png", strokes: count}), "image/png");
}

function toPaper() {
  // The writing's box on the pad, whole pixels, then a new canvas: paper around a copy.
  const left = Math.max(0, Math.floor(ink[0])), top = Math.max(0, Math.floor(ink[1]));
  const w = Math.min(pad.width, Math.ceil(ink[2])) - left;
  const h = Math.min(pad.height, Math.ceil(ink[3])) - top;
  const mx = Math.round(Math.max(MARGIN_X[0] * h, MARGIN_X[1] * w));
  const my = Math.round(MARGIN_Y * h);
  const paper = document.createElement("canvas");
  paper.width = w + 2 * mx;
  paper.height = h + 2 * my;
  const paperCtx = paper.getContext("2d");
  paperCtx.fillStyle = "#fff";
  paperCtx.fillRect(0, 0, paper.width, paper.height);
  paperCtx.drawImage(pad, left, top, w, h, mx, my, w, h);
  return paper;
}

function optionFields() {
  const fields = [];
  for (const input of options.elements) {
    if (input.name && input.value.trim() !== "") fields.push([input.name, input.value.trim()]);
  }
  return fields;
}

async function send(what) {
  source = what;
  const form = new FormData();
  form.append("image", what.blob, what.name);
  for (const [name, value] of optionFields()) form.append(name, value);
  const request = ++requests;
  result.dataset.state = "reading";
  result.dataset.request = String(request);
  let answer, ok;
  try {
    const response = await fetch("/api/read", {method: "POST", body: form});
    ok = response.ok;
    answer = await response.json();
  } catch (err) {
    ok = false;
    answer = {error: `no answer from the server (${err.message})`};
  }
  if (request !== requests) return; // a newer request is on its way
  result.dataset.strokes = String(what.strokes || 0); // how much of the drawing was read
  if (ok) showReading(answer);
  else showError(answer.error || "the server refused the request");
}

function percent(p) {
  // Rounded down, so that 0.9999 shows as 99.99%, not 100%.
  if (p >= 1) return "100%";
  if (p < 0.0001) return "<0.01%";
  return `${(Math.floor(p * 10000) / 100).toFixed(2)}%`;
}

function showReading(answer) {
  document.getElementById("error").hidden = true;
  const text = document.getElementById("text");
  text.textContent = answer.text === "" ? "(no digits)" : answer.text;
  text.dataset.value = answer.text;
  const confidence = document.getElementById("confidence");
  confidence.textContent = percent(answer.confidence);
  confidence.dataset.value = String(answer.confidence);
  document.getElementById("unsure").hidden = answer.sure !== false;
  result.dataset.sure = String(answer.sure);
  const list = document.getElementById("alternatives");
  list.replaceChildren(...answer.alternatives.map((alt) => {
    const item = document.createElement("li");
    item.dataset.text = alt.text;
    item.dataset.probability = String(alt.probability);
    const digits = document.createElement("span");
    digits.className = "alt-text";
    digits.textContent = alt.text === "" ? "(no digits)" : alt.text;
    const score = document.createElement("span");
    score.className = "alt-probability";
    score.textContent = percent(alt.probability);
    item.append(digits, score);
    return item;
  }));
  const seen = document.getElementById("model-input");
  seen.src = answer.image;
  seen.hidden = false;
  document.getElementById("meta").textContent =
    `constraint: ${answer.constraint}; read in ${answer.ms} ms`;
  result.dataset.state = "done";
}

function showError(message) {
  blank();
  const error = document.getElementById("error");
  error.textContent = message;
  error.hidden = false;
  result.dataset.state = "error";
}

function blank() {
  document.getElementById("error").hidden = true;
  document.getElementById("text").textContent = "\u2013";
  document.getElementById("text").dataset.value = "";
  document.getElementById("confidence").textContent = "\u2013";
  document.getElementById("unsure").hidden = true;
  document.getElementById("alternatives").replaceChildren();
  document.getElementById("model-input").hidden = true;
  document.getElementById("meta").textContent = "";
}

document.getElementById("clear").addEventListener("click", () => {
  clearTimeout(timer);
  clearPad();
  source = null;
  requests += 1; // an answer still on its way is for the old drawing
  const preview = document.getElementById("upload-preview");
  preview.hidden = true;
  document.getElementById("file").value = "";
  blank();
  result.dataset.state = "idle";
});

document.getElementById("read").addEventListener("click", readPad);

document.getElementById("file").addEventListener("change", (event) => {
  const file = event.target.files[0];
  if (!file) return;
  const preview = document.getElementById("upload-preview");
  if (preview.src) URL.revokeObjectURL(preview.src);
  preview.src = URL.createObjectURL(file);
  preview.hidden = false;
  send({blob: file, name: file.name});
});

// A changed constraint reads the same image again.
options.addEventListener("change", () => { if (source) send(source); });
options.addEventListener("submit", (event) => {
  event.preventDefault();
  if (source) send(source);
});

async function showModel() {
  const model = document.getElementById("model");
  try {
    const info = await (await fetch("/api/info")).json();
    model.textContent = `Model: ${info.run} (${info.parameters.toLocaleString("en")} ` +
      `parameters), beam width ${info.beam_width}. Write digits with a mouse, pen or ` +
      "finger; the reading follows each stroke.";
    options.elements.top_k.max = String(info.beam_width);
    options.elements.top_k.value = String(info.default_top_k);
    options.elements.min_confidence.placeholder = String(info.min_confidence);
    if (info.calibrated) {
      document.getElementById("confidence-label").textContent = "chance it is right";
    }
  } catch (err) {
    model.textContent = `The model's details could not be loaded (${err.message}).`;
  }
}

clearPad();
showModel();
