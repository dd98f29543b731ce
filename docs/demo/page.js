// The demo page: starts the training thread (build/train_worker.js, a module worker), and
// redraws the curves (build/plot.js, the SVG that `dlrm plot` writes) as its messages come.
import { plotRunsSvg } from "./build/plot.js";

const $ = (id) => document.getElementById(id);
const status = $("status");
const isolated = globalThis.crossOriginIsolated === true && typeof SharedArrayBuffer === "function";
status.textContent = isolated
  ? "cross-origin isolated: SharedArrayBuffer and shared WebAssembly memory are available"
  : "not cross-origin isolated: serve this page with `dlrm serve-demo` (COOP/COEP headers)";
status.className = isolated ? "" : "bad";
$("train").disabled = !isolated;

let drawPending = false;
function draw(run) {
  if (drawPending) return;
  drawPending = true;
  requestAnimationFrame(() => {
    drawPending = false;
    $("curves").innerHTML = plotRunsSvg([run], { title: "this run" }).replace(/^<\?xml[^>]*>\n/, "");
  });
}

$("run").addEventListener("submit", (e) => {
  e.preventDefault();
  const request = {
    steps: Number($("steps").value),
    batchSize: Number($("batch").value),
    seed: Number($("seed").value),
    testFreq: Number($("test-freq").value),
  };
  const run = { name: `seed ${request.seed}`, steps: [], evals: [] };
  const worker = new Worker(new URL("./build/train_worker.js", import.meta.url), { type: "module" });
  const started = performance.now();
  $("train").disabled = true;
  $("auc").textContent = "-";
  document.body.dataset.state = "training";
  worker.onmessage = ({ data: m }) => {
    if (m.kind === "step") {
      run.steps.push({ step: m.step + 1, loss: m.loss });
      $("step").textContent = `${m.step + 1}/${request.steps}`;
      const seconds = (performance.now() - started) / 1000;
      if (seconds > 0) $("rate").textContent = String(Math.round(m.samples / seconds));
      draw(run);
    } else if (m.kind === "eval") {
      run.evals.push({ step: m.step, auc: m.auc ?? NaN, logloss: m.logloss ?? NaN });
      $("auc").textContent = m.auc === null ? "-" : m.auc.toFixed(4);
      $("auc").dataset.value = String(m.auc);
      draw(run);
    } else {
      if (m.kind === "done") $("teacher-auc").textContent = m.teacherAuc.toFixed(4);
      else status.textContent = `error: ${m.message}`;
      document.body.dataset.state = m.kind;
      $("train").disabled = false;
      worker.terminate();
    }
  };
  worker.onerror = (err) => {
    status.textContent = `error: ${err.message}`;
    document.body.dataset.state = "error";
  };
  worker.postMessage(request);
});
