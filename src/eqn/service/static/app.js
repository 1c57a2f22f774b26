"use strict";
// The page calls the same API as any other client: /v1/model, /v1/annotate, /v1/annotate/csv.
// It shows what the server returns and never applies the threshold itself (eq. 8 lives
// in one place, on the server). Text from the server or the user goes in via textContent.
const $ = (id) => document.getElementById(id);
let labels = [];
let lastResult = null;
let lastThreshold = null;
let timer = null;

async function loadModel() {
  try {
    const response = await fetch("/v1/model");
    const info = await response.json();
    if (!response.ok) throw new Error(info.error || response.statusText);
    labels = info.labels;
    const h = info.thresholds.calibrated ?? info.thresholds.global;
    $("threshold").value = h.toFixed(2);
    $("threshold-value").textContent = h.toFixed(2);
    $("model-line").textContent =
      `${info.backbone} (${info.encoder || "own vocabulary"}), ${labels.length} labels, ` +
      `tuned threshold h = ${h.toFixed(2)}`;
  } catch (error) {
    showError($("model-line"), `Model not ready: ${error.message}`);
  }
}

function showError(element, message) {
  const span = document.createElement("span");
  span.className = "error";
  span.textContent = message;
  element.replaceChildren(span);
}

async function annotate() {
  const text = $("text").value;
  if (!text.trim()) { $("bars").replaceChildren(); $("summary").textContent = ""; return; }
  const threshold = parseFloat($("threshold").value);
  const response = await fetch("/v1/annotate", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ texts: [text], raw: true, threshold }),
  });
  const body = await response.json();
  if (!response.ok) {
    showError($("summary"), body.error || response.statusText);
    return;
  }
  lastResult = body.results[0];
  lastThreshold = body.threshold;
  render();
}

function render() {
  if (!lastResult) return;
  const entries = Object.entries(lastResult.energies).sort((a, b) => b[1] - a[1]);
  const macro = lastResult.macro_emotion;
  const micro = lastResult.micro_emotions;  // as the server decided them
  const microLabels = new Set(micro.map((m) => m.label));
  $("summary").textContent = macro
    ? `Macro-emotion: ${macro}. Micro-emotions at or above ${lastThreshold.toFixed(2)}: ` +
      (micro.length ? micro.map((m) => `${m.label} ${m.energy.toFixed(2)}`).join(", ") : "none") + "."
    : "Empty text: all energies are 0.";
  const items = [];
  for (const [label, energy] of entries) {
    const kind = label === macro ? "macro" : (microLabels.has(label) ? "micro" : "below");
    const item = document.createElement("li");
    item.className = `bar ${kind}`;
    item.setAttribute("aria-label", `${label}: ${energy.toFixed(2)} (${kind})`);
    const name = document.createElement("span");
    name.className = "name";
    name.textContent = label;
    const track = document.createElement("span");
    track.className = "track";
    const fill = document.createElement("span");
    fill.className = "fill";
    fill.style.width = `${Math.max(0, Math.min(10, energy)) * 10}%`;
    fill.style.display = "block";
    track.appendChild(fill);
    const value = document.createElement("span");
    value.className = "value";
    value.textContent = energy.toFixed(2);
    item.append(name, track, value);
    item.title = "Click: which words drive this emotion";
    item.addEventListener("click", () => explainLabel(label));
    items.push(item);
  }
  $("bars").replaceChildren(...items);
}

async function explainLabel(label) {
  const box = $("explanation");
  box.textContent = `Explaining ${label}…`;
  const response = await fetch("/v1/explain", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ text: $("text").value, label }),
  });
  const body = await response.json();
  if (!response.ok) { showError(box, body.error || response.statusText); return; }
  const scale = Math.max(...body.tokens.map((t) => Math.abs(t.attribution)), 1e-9);
  const heading = document.createElement("p");
  heading.textContent = `${body.label}: energy ${body.energy.toFixed(2)}. ` +
    "Red words raise it, blue words lower it.";
  const words = document.createElement("p");
  words.className = "words";
  for (const token of body.tokens) {
    const span = document.createElement("span");
    const strength = Math.min(1, Math.abs(token.attribution) / scale);
    const colour = token.attribution > 0 ? "220, 50, 47" : "38, 139, 210";
    span.style.backgroundColor = `rgba(${colour}, ${(0.1 + 0.6 * strength).toFixed(2)})`;
    span.textContent = token.token;
    span.title = token.attribution.toFixed(3);
    words.append(span, document.createTextNode(" "));
  }
  box.replaceChildren(heading, words);
}

function schedule() {
  clearTimeout(timer);
  timer = setTimeout(annotate, 300);  // debounce typing
}

function readHeader(file) {
  file.slice(0, 64 * 1024).text().then((head) => {
    const first = head.split(/\r?\n/)[0];
    const columns = first.split(",").map((c) => c.trim().replace(/^"|"$/g, ""));
    const select = $("text-col");
    select.replaceChildren();
    for (const column of columns) {
      const option = document.createElement("option");
      option.value = option.textContent = column;
      if (column === "text") option.selected = true;
      select.appendChild(option);
    }
  });
}

function uploadCsv(event) {
  event.preventDefault();
  const form = new FormData($("csv-form"));
  const request = new XMLHttpRequest();
  const bar = $("csv-progress");
  bar.hidden = false; bar.value = 0;
  $("csv-download").hidden = true;
  $("csv-status").textContent = "Uploading…";
  request.upload.onprogress = (e) => { if (e.lengthComputable) bar.value = (e.loaded / e.total) * 50; };
  request.upload.onload = () => { bar.removeAttribute("value"); $("csv-status").textContent = "Annotating…"; };
  request.responseType = "blob";
  request.onload = async () => {
    bar.max = 100; bar.value = 100;
    if (request.status !== 200) {
      const body = JSON.parse(await request.response.text());
      showError($("csv-status"), body.error || `HTTP ${request.status}`);
      return;
    }
    const link = $("csv-download");
    link.href = URL.createObjectURL(request.response);
    const disposition = request.getResponseHeader("Content-Disposition") || "";
    link.download = (disposition.match(/filename="(.+)"/) || [])[1] || "annotated.eqn.csv";
    link.hidden = false;
    $("csv-status").textContent = request.getResponseHeader("X-EQN-Summary") || "Done.";
  };
  request.onerror = () => { showError($("csv-status"), "Upload failed."); };
  request.open("POST", "/v1/annotate/csv");
  request.send(form);
}

document.addEventListener("DOMContentLoaded", () => {
  loadModel();
  $("text").addEventListener("input", schedule);
  $("annotate").addEventListener("click", annotate);
  $("threshold").addEventListener("input", () => {
    $("threshold-value").textContent = parseFloat($("threshold").value).toFixed(2);
    schedule();  // the server applies the new threshold
  });
  $("csv-file").addEventListener("change", (e) => { if (e.target.files[0]) readHeader(e.target.files[0]); });
  $("csv-form").addEventListener("submit", uploadCsv);
});
