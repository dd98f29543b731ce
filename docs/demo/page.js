// The demo page: reads the chosen data (synthetic, or MovieLens / Criteo files picked from
// disk: read here, never uploaded), starts the training thread (build/train_worker.js, a
// module worker, which starts the rank workers itself), redraws the curves (build/plot.js,
// the SVG that `dlrm plot` writes) as its messages come, draws the sharding plan, asks the
// trained model for a user's top items, and downloads the checkpoint it saves.
import { plotRunsSvg } from "./build/plot.js";
import { MOVIELENS_FILES, pickedStatus } from "./picked.js";

const $ = (id) => document.getElementById(id);
const status = $("status");
const isolated = globalThis.crossOriginIsolated === true && typeof SharedArrayBuffer === "function";
status.textContent = isolated
  ? "cross-origin isolated: SharedArrayBuffer and shared WebAssembly memory are available"
  : "not cross-origin isolated: serve this page with `dlrm serve-demo` (COOP/COEP headers)";
status.className = isolated ? "" : "bad";
$("train").disabled = !isolated;

// Picking files says what was picked, and chooses that data source.
for (const [kind, input] of [
  ["movielens", "movielens-dir"],
  ["criteo", "criteo-file"],
]) {
  $(input).addEventListener("change", () => {
    const { text, bad } = pickedStatus(kind, [...$(input).files]);
    $("data-status").textContent = text;
    $("data-status").className = bad ? "bad" : "";
    if (!bad && text !== "") document.querySelector(`input[name=data][value=${kind}]`).checked = true;
  });
}

let worker = null;
let trainedKind = null;

let drawPending = false;
function draw(run) {
  if (drawPending) return;
  drawPending = true;
  requestAnimationFrame(() => {
    drawPending = false;
    $("curves").innerHTML = plotRunsSvg([run], { title: "this run" }).replace(/^<\?xml[^>]*>\n/, "");
  });
}

const bytesOf = async (file) => new Uint8Array(await file.arrayBuffer());

/** The data the form names, read from the picked files: [message data, its dlrm train --data name]. */
async function chosenData() {
  const kind = document.querySelector("input[name=data]:checked").value;
  if (kind === "synthetic") return [{ kind }, "synthetic"];
  if (kind === "movielens") {
    const picked = [...$("movielens-dir").files];
    if (picked.length === 0) throw new Error("pick the MovieLens-100K folder (ml-100k) first");
    const files = {};
    for (const f of picked) if (MOVIELENS_FILES.includes(f.name)) files[f.name] = await bytesOf(f);
    const folder = (picked[0].webkitRelativePath || picked[0].name).split("/")[0];
    const split = $("split").value;
    return [{ kind, split, files }, `movielens:${folder}`];
  }
  const picked = [...$("criteo-file").files]; // in the order picked: the days, in order
  if (picked.length === 0) throw new Error("pick one or more Criteo TSV files first");
  const files = [];
  for (const f of picked) files.push({ name: f.name, bytes: await bytesOf(f) });
  return [{ kind, files }, `criteo:${picked.map((f) => f.name).join(",")}`];
}

/** The plan as a table: one row per table, one column per worker, each cell the rows that worker holds. */
function drawPlan(plan, tableNames) {
  const table = document.createElement("table");
  const head = table.insertRow();
  for (const h of ["table", "rows", ...plan.perRank.map((r) => `worker ${r.rank}`)]) {
    const th = document.createElement("th");
    th.textContent = h;
    head.append(th);
  }
  for (const t of plan.tables) {
    const row = table.insertRow();
    row.insertCell().textContent = tableNames?.[t.table] ?? t.label;
    row.insertCell().textContent = String(t.rows);
    for (const r of plan.perRank) {
      const cell = row.insertCell();
      const shards = t.shards.filter((s) => s.rank === r.rank);
      if (shards.length === 0) continue;
      cell.className = shards.some((s) => s.whole) ? "held" : "part";
      cell.textContent = shards.map((s) => (s.whole ? "all" : `[${s.rowStart}, ${s.rowEnd})`)).join(" ");
    }
  }
  const total = table.insertRow();
  total.insertCell().textContent = "bytes";
  total.insertCell();
  for (const r of plan.perRank) total.insertCell().textContent = `${(r.bytes / 1024).toFixed(1)} KiB`;
  $("plan").replaceChildren(table);
}

$("run").addEventListener("submit", async (e) => {
  e.preventDefault();
  let data, dataName;
  try {
    [data, dataName] = await chosenData();
    if ($("data-status").className === "bad") $("data-status").textContent = "";
    $("data-status").className = "";
  } catch (err) {
    $("data-status").textContent = err.message;
    $("data-status").className = "bad";
    return;
  }
  const request = {
    kind: "train",
    steps: Number($("steps").value),
    batchSize: Number($("batch").value),
    seed: Number($("seed").value),
    testFreq: Number($("test-freq").value),
    workers: Number($("workers").value),
    data,
    dataName,
  };
  const label = data.kind === "movielens" ? `${dataName} --split ${data.split}` : dataName;
  const run = { name: `${label}, seed ${request.seed}, ${request.workers} workers`, steps: [], evals: [] };
  worker?.terminate(); // its rank workers end with it
  worker = new Worker(new URL("./build/train_worker.js", import.meta.url), { type: "module" });
  trainedKind = null;
  const started = performance.now();
  for (const id of ["train", "save", "predict-button"]) $(id).disabled = true;
  for (const id of ["auc", "ne", "calibration"]) $(id).textContent = "-";
  $("teacher-auc").textContent = "-";
  $("predictions").replaceChildren();
  document.body.dataset.state = "training";
  worker.onmessage = ({ data: m }) => {
    if (m.kind === "plan") drawPlan(m.plan, m.tableNames);
    else if (m.kind === "step") {
      run.steps.push({ step: m.step + 1, loss: m.loss });
      $("step").textContent = `${m.step + 1}/${request.steps}`;
      const seconds = (performance.now() - started) / 1000;
      if (seconds > 0) $("rate").textContent = String(Math.round(m.samples / seconds));
      draw(run);
    } else if (m.kind === "eval") {
      run.evals.push({
        step: m.step,
        auc: m.auc ?? NaN,
        logloss: m.logloss ?? NaN,
        ne: m.ne ?? NaN,
        calibration: m.calibration ?? NaN,
      });
      for (const id of ["auc", "ne", "calibration"]) {
        $(id).textContent = m[id] === null ? "-" : m[id].toFixed(4); // null: undefined for a one-class set
        $(id).dataset.value = String(m[id]);
      }
      draw(run);
    } else if (m.kind === "done") {
      if (m.teacherAuc !== null) $("teacher-auc").textContent = m.teacherAuc.toFixed(4);
      trainedKind = data.kind;
      $("train").disabled = false;
      $("save").disabled = false;
      $("predict-button").disabled = trainedKind !== "movielens";
      document.body.dataset.state = "done";
    } else if (m.kind === "checkpoint") {
      const url = URL.createObjectURL(new Blob([m.bytes], { type: "application/octet-stream" }));
      const a = document.createElement("a");
      a.href = url;
      a.download = m.name;
      a.click();
      setTimeout(() => URL.revokeObjectURL(url), 10_000);
      $("save").disabled = false;
      document.body.dataset.saved = "yes";
    } else if (m.kind === "prediction") {
      $("predictions").replaceChildren(
        ...m.items.map((it) => {
          const li = document.createElement("li");
          li.textContent = `${it.title} (item ${it.id}): ${it.p.toFixed(3)}`;
          li.dataset.item = String(it.id);
          return li;
        }),
      );
      $("predict-button").disabled = false;
      document.body.dataset.predicted = String(m.user);
    } else if (m.kind === "error") {
      status.textContent = `error: ${m.message}`;
      status.className = "bad";
      $("train").disabled = false;
      $("save").disabled = trainedKind === null;
      $("predict-button").disabled = trainedKind !== "movielens";
      document.body.dataset.state = "error";
    }
  };
  worker.onerror = (err) => {
    status.textContent = `error: ${err.message}`;
    status.className = "bad";
    document.body.dataset.state = "error";
  };
  // The files' bytes are handed over, not copied.
  const transfer =
    data.kind === "movielens"
      ? Object.values(data.files).map((b) => b.buffer)
      : data.kind === "criteo"
        ? data.files.map((f) => f.bytes.buffer)
        : [];
  worker.postMessage(request, transfer);
});

$("save").addEventListener("click", () => {
  $("save").disabled = true;
  delete document.body.dataset.saved;
  worker.postMessage({ kind: "save" });
});

$("predict").addEventListener("submit", (e) => {
  e.preventDefault();
  $("predict-button").disabled = true;
  delete document.body.dataset.predicted;
  worker.postMessage({ kind: "predict", user: Number($("user").value), top: Number($("top").value) });
});
