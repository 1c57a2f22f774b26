"use strict";
// The page calls the same API as any other client: /v1/model, /v1/annotate, /v1/annotate/csv.
const $ = (id) => document.getElementById(id);
let labels = [];
let lastResult = null;
let timer = null;

async function loadModel() {
  try {
    const response = await fetch("/v1/model");
    const info = await response.json();
    if (!response.ok) throw new Error(info.error || response.statusText);
    labels = info.labels;
    const h = info.thresholds.global;
    $("threshold").value = h.toFixed(2);
    $("threshold-value").textContent = h.toFixed(2);
    $("model-line").textContent =
      `${info.backbone} (${info.encoder || "own vocabulary"}), ${labels.length} labels, ` +
      `tuned threshold h = ${h.toFixed(2)}`;
  } catch (error) {
    $("model-line").innerHTML = `<span class="error">Model not ready: ${error.message}</span>`;
  }
}

async function annotate() {
  const text = $("text").value;
  if (!text.trim()) { $("bars").innerHTML = ""; $("summary").textContent = ""; return; }
  const response = await fetch("/v1/annotate", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ texts: [text], raw: true }),
  });
  const body = await response.json();
  if (!response.ok) {
    $("summary").innerHTML = `<span class="error">${body.error}</span>`;
    return;
  }
  lastResult = body.results[0];
  render();
}

function render() {
  if (!lastResult) return;
  const h = parseFloat($("threshold").value);
  const entries = Object.entries(lastResult.energies).sort((a, b) => b[1] - a[1]);
  const macro = lastResult.macro_emotion;
  const micro = entries.filter(([label, e]) => label !== macro && e >= h && e > 0);
  $("summary").textContent = macro
    ? `Macro-emotion: ${macro}. Micro-emotions at or above ${h.toFixed(2)}: ` +
      (micro.length ? micro.map(([l, e]) => `${l} ${e.toFixed(2)}`).join(", ") : "none") + "."
    : "Empty text: all energies are 0.";
  const list = $("bars");
  list.innerHTML = "";
  for (const [label, energy] of entries) {
    const kind = label === macro ? "macro" : (energy >= h && energy > 0 ? "micro" : "below");
    const item = document.createElement("li");
    item.className = `bar ${kind}`;
    item.setAttribute("aria-label", `${label}: ${energy.toFixed(2)} (${kind})`);
    const width = Math.max(0, Math.min(10, energy)) * 10;
    item.innerHTML = `<span class="name">${label}</span>` +
      `<span class="track"><span class="fill" style="width:${width}%; display:block"></span></span>` +
      `<span class="value">${energy.toFixed(2)}</span>`;
    list.appendChild(item);
  }
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
    select.innerHTML = "";
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
      $("csv-status").innerHTML = `<span class="error">${body.error}</span>`;
      return;
    }
    const link = $("csv-download");
    link.href = URL.createObjectURL(request.response);
    const disposition = request.getResponseHeader("Content-Disposition") || "";
    link.download = (disposition.match(/filename="(.+)"/) || [])[1] || "annotated.eqn.csv";
    link.hidden = false;
    $("csv-status").textContent = request.getResponseHeader("X-EQN-Summary") || "Done.";
  };
  request.onerror = () => { $("csv-status").innerHTML = '<span class="error">Upload failed.</span>'; };
  request.open("POST", "/v1/annotate/csv");
  request.send(form);
}

document.addEventListener("DOMContentLoaded", () => {
  loadModel();
  $("text").addEventListener("input", schedule);
  $("annotate").addEventListener("click", annotate);
  $("threshold").addEventListener("input", () => {
    $("threshold-value").textContent = parseFloat($("threshold").value).toFixed(2);
    render();
  });
  $("csv-file").addEventListener("change", (e) => { if (e.target.files[0]) readHeader(e.target.files[0]); });
  $("csv-form").addEventListener("submit", uploadCsv);
});
