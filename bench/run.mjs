// `make bench`: Infill in headless Chromium against wllama (llama.cpp in wasm) on the same model file, in
// the same page and the same run, and the same core natively; medians of several runs, ratios taken run
// by run. Writes bench/results.md (the table) and bench/out/last.json (every raw figure).
//
// Needs: dist/ from `trunk build --release`, target/release/infill, target/bench-native/release/infill-bench
// (bench/native), bench/node_modules (npm ci). Environment: BENCH_RUNS (default 3), BENCH_EASY40 (0 skips
// the Easy 40 batch), CHROMIUM (default /usr/bin/chromium).
import { chromium } from 'playwright-core';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { serve } from './server.mjs';

const BENCH = dirname(fileURLToPath(import.meta.url));
const ROOT = join(BENCH, '..');
const OUT = join(BENCH, 'out');
const DIST = join(ROOT, 'dist');
const CLI = join(ROOT, 'target', 'release', 'infill');
const NATIVE = join(ROOT, 'target', 'bench-native', 'release', 'infill-bench');
const MODEL_NAME = 'SmolLM2-135M-Instruct.Q4_1.gguf';
const MODEL = join(ROOT, 'models', MODEL_NAME);
const Q8_NAME = 'SmolLM2-135M-Instruct.Q8_0.gguf';
const Q8 = join(OUT, Q8_NAME);
// The prompt: CPython 3.11 Lib/heapq.py lines 295-342 (`_siftup_max` and the start of `merge`); the hidden
// line is the last one, so the prompt is the 47 lines above it: exactly 512 tokens for SmolLM2.
const PREFIX_FILE = join(BENCH, 'heapq_merge.py');
const PREFIX_LINE = 48;
const GREEDY_TOKENS = 128;
const BEAM_TOKENS = 32;
const RUNS = Number(process.env.BENCH_RUNS || 3);
// A long file, read once in the page and once natively: the whole of CPython 3.11 `Lib/heapq.py` with line 250
// hidden (about 3,000 tokens above it), where attention's share of the prompt grows with its length.
// The same file the dataset tests read (tests/fixtures/pyfolder/stdlib/heapq.py).
const LONG_FILE = join(BENCH, '..', 'tests', 'fixtures', 'pyfolder', 'stdlib', 'heapq.py');
const LONG_LINE = 250;
const LONG = process.env.BENCH_LONG !== '0';
const EASY40 = process.env.BENCH_EASY40 !== '0';
// wllama's decode is stopped (and measured on the tokens so far) after this many seconds: on a loaded
// machine its 2-thread build can fall to well under one token per second.
const WLLAMA_CAP_S = Number(process.env.BENCH_WLLAMA_CAP_S || 60);

for (const [what, path, how] of [
  ['the wasm build', join(DIST, 'infill_bg.wasm'), 'trunk build --release'],
  ['the CLI', CLI, 'cargo build --release --bin infill'],
  ['the native benchmark', NATIVE, 'make bench'],
  ['the model', MODEL, 'scripts/setup.sh model'],
  ['wllama', join(BENCH, 'node_modules', '@wllama', 'wllama', 'esm', 'index.js'), 'npm ci --prefix bench'],
]) {
  if (!existsSync(path)) {
    console.error(`bench: ${what} is missing (${path}); run \`${how}\` first`);
    process.exit(1);
  }
}
mkdirSync(OUT, { recursive: true });

const median = (xs) => {
  const s = xs.filter(Number.isFinite).sort((a, b) => a - b);
  if (!s.length) return NaN;
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const sum = (xs) => xs.reduce((a, b) => a + b, 0);
const rate = (count, ms) => (count > 0 && ms > 0 ? (1000 * count) / ms : NaN);
const log = (...a) => console.error('bench:', ...a);


/** CPU ticks used so far by each process outside this benchmark's own process tree (a noise gauge). */
function othersTicks() {
  const procs = new Map();
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      procs.set(Number(pid), { ppid: Number(f[1]), ticks: Number(f[11]) + Number(f[12]) });
    } catch { /* the process ended */ }
  }
  const ours = (pid) => {
    for (let p = pid, hops = 0; p > 1 && hops < 64; hops++) {
      if (p === process.pid) return true;
      p = procs.get(p)?.ppid ?? 0;
    }
    return false;
  };
  const others = new Map();
  for (const [pid, p] of procs) if (!ours(pid)) others.set(pid, p.ticks);
  return others;
}
/** CPU seconds other processes used since `start` (those that ended meanwhile are not counted). */
function othersCpuSince(start) {
  let ticks = 0;
  for (const [pid, t] of othersTicks()) ticks += Math.max(0, t - (start.get(pid) ?? 0));
  return ticks / 100; // USER_HZ
}
const othersAtStart = othersTicks();
const wallAtStart = Date.now();

// --- Preparation: the pre-converted Q8_0 file, the Easy 40 tasks, sizes, machine. ---
if (!existsSync(Q8) || statSync(Q8).mtimeMs < statSync(MODEL).mtimeMs) {
  log('writing the Q8_0 copy of the model with `infill convert`');
  execFileSync(CLI, ['convert', '--model', MODEL, '--out', Q8], { stdio: 'inherit' });
}
const easyDir = join(OUT, 'easy40');
mkdirSync(easyDir, { recursive: true });
writeFileSync(join(easyDir, 'easy40.py'), readFileSync(join(ROOT, 'data', 'easy40.py')));
const tasks = execFileSync(CLI, ['dataset', easyDir], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })
  .split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l));
const wasm = readFileSync(join(DIST, 'infill_bg.wasm'));
const sizes = { wasmBytes: wasm.length, wasmGzipBytes: gzipSync(wasm, { level: 9 }).length };
const code = readFileSync(PREFIX_FILE, 'utf8');
const git = (...a) => execFileSync('git', ['-C', ROOT, ...a], { encoding: 'utf8' }).trim();
const dirty = git('status', '--porcelain', '--untracked-files=no') !== '';
const cpuModel = (readFileSync('/proc/cpuinfo', 'utf8').match(/model name\s*:\s*(.*)/) || [])[1] || cpus()[0]?.model || '?';
const machine = {
  cpu: cpuModel.trim(),
  cores: cpus().length,
  commit: `${git('rev-parse', '--short', 'HEAD')}${dirty ? ' (with uncommitted changes)' : ''}`,
  date: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
  wllama: JSON.parse(readFileSync(join(BENCH, 'node_modules', '@wllama', 'wllama', 'package.json'), 'utf8')).version,
};

// --- The browser: one page, Infill's worker and wllama side by side. ---
const server = await serve({
  '/bench-models/': OUT,
  '/bench/': BENCH,
  '/wllama/': join(BENCH, 'node_modules', '@wllama', 'wllama', 'esm'),
  '/': DIST,
});
const base = `http://127.0.0.1:${server.address().port}`;
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--disable-renderer-backgrounding',
    '--disable-background-timer-throttling'],
});
machine.chromium = browser.version();
const page = await browser.newPage();
const workers = [];
page.on('worker', (w) => workers.push(w));
page.on('pageerror', (e) => log('page error:', String(e)));
page.setDefaultTimeout(600_000);
await page.goto(`${base}/bench/bench.html`);
await page.waitForFunction(() => document.getElementById('status')?.textContent === 'ready');
const isolated = await page.evaluate(() => self.crossOriginIsolated);
if (!isolated) log('warning: the page is not cross-origin isolated; wllama cannot use threads');

/** Wasm memory of the newest Infill worker (never shrinks, so it is the peak so far). */
async function infillMemory() {
  const w = workers.filter((x) => x.url().endsWith('/worker.js')).pop();
  return w ? w.evaluate(() => (typeof wasm_bindgen.wasm_memory_bytes === 'function' ? wasm_bindgen.wasm_memory_bytes() : null)) : null;
}

const q41Url = `/models/${MODEL_NAME}`;
const q8Url = `/bench-models/${Q8_NAME}`;
const greedySettings = { beams: 1, max_new_tokens: GREEDY_TOKENS, mode: 'multi', cosine: false };
const beamSettings = { beams: 5, max_new_tokens: BEAM_TOKENS, mode: 'multi', cosine: false };

/** Infill on one model file: load and wasm memory; with `complete`, also greedy 128 tokens and a 5-beam search. */
async function infillRun(url, complete) {
  await page.evaluate(() => bench.infillStart());
  const load = await page.evaluate(([u]) => bench.infillLoad(u, true), [url]);
  const memLoad = await infillMemory();
  const out = { loadMs: load.loadMs, fileBytes: load.fileBytes, requantized: load.model.requantized, memLoad, memPeak: memLoad };
  if (complete) {
    const greedy = await page.evaluate(([c, l, s]) => bench.infillComplete(c, l, s), [code, PREFIX_LINE, greedySettings]);
    const beam = await page.evaluate(([c, l, s]) => bench.infillComplete(c, l, s), [code, PREFIX_LINE, beamSettings]);
    Object.assign(out, {
      memPeak: await infillMemory(),
      promptTokens: greedy.promptTokens,
      prompt: greedy.prompt,
      prefillMs: greedy.prefillMs,
      promptTps: rate(greedy.promptTokens, greedy.prefillMs),
      greedySteps: greedy.steps,
      decodeTps: rate(greedy.stepMs.length, sum(greedy.stepMs)),
      // The engine's own figure from the `done` report: (steps − 1) ÷ (last step − first token), on the
      // worker's clock, so without the message to the page and the page's own delay in taking it.
      decodeTpsWorker: greedy.stats?.tokens_per_second,
      greedyStepMs: median(greedy.stepMs),
      beamSteps: beam.steps,
      beamStepMs: median(beam.stepMs),
      greedyText: greedy.completion,
    });
  }
  await page.evaluate(() => bench.infillStop());
  return out;
}

async function wllamaRun(threads, prompt) {
  const load = await page.evaluate(([u, t]) => bench.wllamaLoad(u, t), [q41Url, threads]);
  const c = await page.evaluate(([p, n, cap]) => bench.wllamaComplete(p, n, cap), [prompt, GREEDY_TOKENS, WLLAMA_CAP_S * 1000]);
  await page.evaluate(() => bench.wllamaStop());
  const t = c.timings || {};
  return {
    loadMs: load.loadMs,
    threads: load.threads,
    multithread: load.multithread,
    promptTokens: t.prompt_n,
    promptTps: t.prompt_per_second,
    decodeTokens: t.predicted_n,
    decodeTps: t.predicted_per_second,
    greedyStepMs: t.predicted_per_token_ms,
    wallMs: c.wallMs,
    capped: c.capped,
    text: c.text,
  };
}

/** `runs` native runs (load, greedy, 5 beams) with `threads` threads, on the benchmark's prompt unless told. */
function nativeRuns(threads, runs, { file = PREFIX_FILE, line = PREFIX_LINE, greedy = GREEDY_TOKENS, beam = BEAM_TOKENS } = {}) {
  const out = execFileSync(NATIVE, ['--model', MODEL, '--file', file, '--line', String(line),
    '--runs', String(runs), '--greedy-tokens', String(greedy), '--beam-tokens', String(beam)], {
    encoding: 'utf8', env: { ...process.env, RAYON_NUM_THREADS: String(threads) }, maxBuffer: 1 << 26,
  });
  const json = JSON.parse(out);
  return json.runs.map((r) => ({
    loadMs: r.load_ms,
    promptTokens: r.greedy.prompt_tokens,
    // The last prompt piece is read with the first decoding step: count it, less one typical step.
    prefillMs: r.greedy.prefill_ms + Math.max(0, r.greedy.step_ms[0] - median(r.greedy.step_ms.slice(1))),
    promptTps: rate(r.greedy.prompt_tokens, r.greedy.prefill_ms + Math.max(0, r.greedy.step_ms[0] - median(r.greedy.step_ms.slice(1)))),
    greedySteps: r.greedy.steps,
    decodeTps: rate(r.greedy.step_ms.length - 1, sum(r.greedy.step_ms.slice(1))),
    decodeTpsWorker: rate(r.greedy.step_ms.length - 1, sum(r.greedy.step_ms.slice(1))),
    greedyStepMs: median(r.greedy.step_ms.slice(1)),
    beamStepMs: median(r.beams.step_ms.slice(1)),
    greedyAllocs: median(r.greedy.step_allocs.slice(1)),
    beamAllocs: median(r.beams.step_allocs.slice(1)),
    greedyAllocBytes: median(r.greedy.step_alloc_bytes.slice(1)),
    beamAllocBytes: median(r.beams.step_alloc_bytes.slice(1)),
    peakRss: json.peak_rss_bytes,
    greedyText: r.greedy.completion,
  }));
}

const runs = [];
let easy = null;
let longFile = null;
let product = null; // medians of `products`
const products = [];

/** One Easy 40 run in the product's page; `product` becomes the median of those so far. */
async function productRun() {
  const r = await productEasy40();
  products.push(r);
  log(`  ${r.engines} engines: ${r.runS.toFixed(1)} s for the run, ${r.totalS.toFixed(1)} s from opening the page (model ready after ${r.readyS.toFixed(1)} s), ${r.exact}/40 exact`);
  const med = (k) => median(products.map((x) => x[k]));
  product = { engines: med('engines'), runS: med('runS'), totalS: med('totalS'), readyS: med('readyS'), runs: products.length };
  writeResults();
}
const native1 = [];
const native2 = [];

async function oneRun(i) {
  log(`run ${i + 1}/${RUNS}: Infill (Q4_1 file, Q8_0 at load)`);
  const q41 = await infillRun(q41Url, true);
  log(`run ${i + 1}/${RUNS}: Infill (Q8_0 file)`);
  const q8 = await infillRun(q8Url, false);
  log(`run ${i + 1}/${RUNS}: wllama, 1 thread`);
  const w1 = await wllamaRun(1, q41.prompt);
  log(`run ${i + 1}/${RUNS}: wllama, 2 threads`);
  const w2 = await wllamaRun(2, q41.prompt);
  // The native core in the same run, right after, so that a wasm ÷ native ratio is taken side by side.
  log(`run ${i + 1}/${RUNS}: native, 1 and 2 threads`);
  native1.push(...nativeRuns(1, 1));
  native2.push(...nativeRuns(2, 1));
  runs.push({ q41, q8, w1, w2 });
  log(`  infill ${q41.promptTps.toFixed(0)} prompt tok/s, ${q41.decodeTps.toFixed(1)} tok/s; wllama 1t ${w1.promptTps?.toFixed(0)} / ${w1.decodeTps?.toFixed(1)}; 2t ${w2.promptTps?.toFixed(0)} / ${w2.decodeTps?.toFixed(1)}`);
}

/** The long file's prompt, greedy with a few tokens: once in a fresh worker, then natively on one thread. */
async function longFileRun() {
  const longCode = readFileSync(LONG_FILE, 'utf8');
  await page.evaluate(() => bench.infillStart());
  await page.evaluate(([u]) => bench.infillLoad(u, true), [q41Url]);
  const settings = { beams: 1, max_new_tokens: 4, mode: 'single', cosine: false };
  const r = await page.evaluate(([c, l, s]) => bench.infillComplete(c, l, s), [longCode, LONG_LINE, settings]);
  await page.evaluate(() => bench.infillStop());
  const [nat] = nativeRuns(1, 1, { file: LONG_FILE, line: LONG_LINE, greedy: 4, beam: 4 });
  longFile = { tokens: r.promptTokens, wasmMs: r.prefillMs, nativeTokens: nat.promptTokens, nativeMs: nat.prefillMs };
  log(`  ${r.promptTokens} tokens: wasm ${(r.prefillMs / 1000).toFixed(1)} s, native 1 thread ${(nat.prefillMs / 1000).toFixed(1)} s`);
}

// Every kind of figure once first (so a run cut short still leaves a whole table), then the other runs.
// The table is rewritten after each part.
await oneRun(0);
writeResults();
if (LONG) {
  log(`long file: ${LONG_FILE} with line ${LONG_LINE} hidden, in a fresh worker and natively`);
  await longFileRun();
  writeResults();
}
if (EASY40) {
  log(`Easy 40: ${tasks.length} tasks, 5 beams, in one fresh worker (load included in the total)`);
  await page.evaluate(() => bench.infillStart());
  const load = await page.evaluate(([u]) => bench.infillLoad(u, true), [q41Url]);
  const batch = await page.evaluate(([t]) => bench.infillBatch(t, { beams: 5 }), [tasks]);
  await page.evaluate(() => bench.infillStop());
  easy = { ...batch, loadMs: load.requestMs, tasksPerMin: (batch.tasks * 60_000) / batch.ms, totalS: (batch.ms + load.requestMs) / 1000 };
  log(`  ${easy.tasksPerMin.toFixed(1)} tasks/min, ${easy.totalS.toFixed(1)} s with the load`);
  writeResults();
  log('Easy 40 in the page a person uses (index.html, “Use Easy 40”, 5 beams, Engines: auto), from opening the page');
  await productRun();
}
for (let i = 1; i < RUNS; i++) {
  await oneRun(i);
  writeResults();
  if (EASY40) await productRun();
}
await browser.close();
server.close();
console.log(readFileSync(join(BENCH, 'results.md'), 'utf8'));

/**
 * Easy 40 the way a person runs it: a fresh page of the product (its own browser context, so nothing is stored
 * yet), the default model, 5 beams, “Use Easy 40”, Start, until the run says done. Times on this process's clock.
 */
async function productEasy40() {
  const context = await browser.newContext();
  const p = await context.newPage();
  const t0 = Date.now();
  await p.goto(`${base}/`);
  await p.waitForFunction(() => ['ready', 'error'].includes(document.querySelector('[data-testid=status]')?.textContent),
    null, { timeout: 180_000, polling: 100 });
  const readyS = (Date.now() - t0) / 1000;
  await p.locator('#set-beams').fill('5');
  await p.locator('#set-beams').dispatchEvent('change');
  await p.getByTestId('batch-easy40').click();
  await p.waitForFunction(() => document.querySelector('[data-testid=batch-preview] h3')?.textContent === 'Preview: Easy 40',
    null, { timeout: 60_000 });
  await p.waitForFunction(() => !document.querySelector('[data-testid=batch-start]')?.disabled, null, { timeout: 60_000 });
  const started = Date.now();
  await p.getByTestId('batch-start').click();
  await p.waitForFunction(() => document.querySelector('[data-testid=batch-state]')?.textContent === 'done',
    null, { timeout: 1_200_000, polling: 100 });
  const end = Date.now();
  const info = await p.evaluate(() => ({
    engines: Number(document.querySelector('[data-testid=batch-progress-text]')?.dataset.engines),
    exact: document.querySelectorAll('[data-testid^=batch-row-] td[data-col=exact][data-value="1"]').length,
  }));
  await context.close();
  return { ...info, readyS, runS: (end - started) / 1000, totalS: (end - t0) / 1000 };
}

// --- Figures and ratios. A ratio is taken within each run (side by side), then the median of those. ---
function writeResults() {
  const pick = (rows, key) => median(rows.map((r) => r[key]));
  const ratio = (a, b) => median(a.map((x, i) => x / b[i]));
  const col = (k) => runs.map((r) => r[k]);
  const fig = {
    infill: col('q41'), infillQ8: col('q8'), w1: col('w1'), w2: col('w2'), native1, native2,
  };
  const f1 = (x) => (Number.isFinite(x) ? x.toFixed(1) : '—');
  const f0 = (x) => (Number.isFinite(x) ? x.toFixed(0) : '—');
  const f2 = (x) => (Number.isFinite(x) ? x.toFixed(2) : '—');
  const mb = (x) => (Number.isFinite(x) ? (x / 1e6).toFixed(0) : '—');
  const cells = (key, fmt) => [fig.infill, fig.infillQ8, fig.w1, fig.w2, native1, native2].map((rows) => fmt(pick(rows, key)));
  const row = (name, key, fmt) => `| ${name} | ${cells(key, fmt).join(' | ')} |`;
  const n = (rows, key) => rows.map((r) => r[key]);

  const ratios = [
    ['greedy decode, Infill ÷ wllama 1 thread', ratio(n(fig.infill, 'decodeTps'), n(fig.w1, 'decodeTps'))],
    ['greedy decode, Infill ÷ wllama 2 threads', ratio(n(fig.infill, 'decodeTps'), n(fig.w2, 'decodeTps'))],
    ['prompt, Infill ÷ wllama 1 thread', ratio(n(fig.infill, 'promptTps'), n(fig.w1, 'promptTps'))],
    ['prompt, Infill ÷ wllama 2 threads', ratio(n(fig.infill, 'promptTps'), n(fig.w2, 'promptTps'))],
    ['greedy decode, wasm ÷ native 1 thread', ratio(n(fig.infill, 'decodeTps'), n(native1, 'decodeTps'))],
    ["greedy decode, wasm on the worker's clock ÷ native 1 thread", ratio(n(fig.infill, 'decodeTpsWorker'), n(native1, 'decodeTps'))],
    ['prompt, wasm ÷ native 1 thread', ratio(n(fig.infill, 'promptTps'), n(native1, 'promptTps'))],
    ['5-beam step ÷ greedy step, wasm', ratio(n(fig.infill, 'beamStepMs'), n(fig.infill, 'greedyStepMs'))],
    ['5-beam step ÷ greedy step, native 1 thread', ratio(n(native1, 'beamStepMs'), n(native1, 'greedyStepMs'))],
    ['load, Q8_0 file ÷ Q4_1 file (re-encoded at load)', ratio(n(fig.infillQ8, 'loadMs'), n(fig.infill, 'loadMs'))],
  ];

  const promptTokens = fig.infill[0]?.promptTokens;
  const capped = [...fig.w1, ...fig.w2].filter((r) => r.capped).length;
  const cappedNote = capped ? ` In ${capped} wllama run(s) the decode was stopped after ${WLLAMA_CAP_S} s and measured on the tokens it had made.` : '';
  const othersCpu = othersCpuSince(othersAtStart);
  const wallS = (Date.now() - wallAtStart) / 1000;
  const noise = othersCpu / wallS;
  const noiseNote = `Other processes on the machine used at least ${othersCpu.toFixed(0)} CPU-seconds during this ${wallS.toFixed(0)} s run
(${(100 * noise).toFixed(0)}% of one core)${noise > 0.1 ? ': **the machine was not quiet, so the absolute figures are low and the 2-thread figures suffer most**' : ''}.${cappedNote}`;
  const md = `# Benchmark results

Latest \`make bench\`: ${machine.date}, ${machine.cpu} (${machine.cores} cores), commit ${machine.commit},
Chromium ${machine.chromium}, wllama ${machine.wllama}. Medians of ${runs.length} runs; each ratio is taken within a run
(side by side) and then the median is shown.
${noiseNote}

Model: \`${MODEL_NAME}\` (${mb(statSync(MODEL).size)} MB) for every column except "Infill, Q8_0 file" (the same
model after \`infill convert\`, ${mb(statSync(Q8).size)} MB). Prompt: CPython 3.11 \`Lib/heapq.py\` lines 295–341
(${promptTokens} tokens for Infill; wllama tokenized the same text to ${pick(fig.w1, 'promptTokens')} tokens).

| | Infill wasm (Q4_1 file, Q8_0 at load) | Infill wasm (Q8_0 file) | wllama 1 thread | wllama 2 threads | Infill native 1 thread | Infill native 2 threads |
|---|---|---|---|---|---|---|
${row('load, bytes to ready (ms)', 'loadMs', f0)}
${row(`prompt, ${promptTokens} tokens (tokens/s)`, 'promptTps', f1)}
${row(`greedy decode, ${GREEDY_TOKENS} tokens (tokens/s)`, 'decodeTps', f1)}
${row('greedy decode, on the worker\'s own clock (tokens/s)', 'decodeTpsWorker', f1)}
${row('greedy step (ms)', 'greedyStepMs', f1)}
${row('5-beam step (ms)', 'beamStepMs', f1)}
${row('wasm memory after the load (MB)', 'memLoad', mb)}
${row('peak wasm memory, after the runs (MB)', 'memPeak', mb)}

| ratio (same run) | value |
|---|---|
${ratios.map(([k, v]) => `| ${k} | ${f2(v)} |`).join('\n')}

| other | value |
|---|---|
| wasm size, raw | ${(sizes.wasmBytes / 1e6).toFixed(2)} MB |
| wasm size, gzip -9 | ${(sizes.wasmGzipBytes / 1e6).toFixed(2)} MB |
| Easy 40, 5 beams, in the page (tasks/min) | ${easy ? f1(easy.tasksPerMin) : 'not run'} |
| Easy 40, 5 beams, total with the model load (s) | ${easy ? f1(easy.totalS) : 'not run'} |
| Easy 40, 5 beams, in the product's batch page: engines (Engines: auto) | ${product ? product.engines : 'not run'} |
| Easy 40, 5 beams, in the product's batch page: the run (s) | ${product ? f1(product.runS) : 'not run'} |
| Easy 40, 5 beams, in the product's batch page: from opening the page to done (s) | ${product ? `${f1(product.totalS)} (median of ${product.runs}: ${products.map((x) => f1(x.totalS)).join(', ')})` : 'not run'} |
| prompt of a long file (all of \`heapq.py\`, line ${LONG_LINE} hidden): ${longFile ? `${longFile.tokens} tokens` : ''}, wasm | ${longFile ? `${f1(longFile.wasmMs / 1000)} s (${f1(rate(longFile.tokens, longFile.wasmMs))} tokens/s)` : 'not run'} |
| the same prompt natively, 1 thread | ${longFile ? `${f1(longFile.nativeMs / 1000)} s (${f1(rate(longFile.nativeTokens, longFile.nativeMs))} tokens/s)` : 'not run'} |
| peak RSS of the native run, 1 thread (MB) | ${mb(native1[0]?.peakRss)} |
| heap allocations per step, native: greedy | ${f0(pick(native1, 'greedyAllocs'))} allocations, ${mb(pick(native1, 'greedyAllocBytes'))} MB |
| heap allocations per step, native: 5 beams | ${f0(pick(native1, 'beamAllocs'))} allocations, ${mb(pick(native1, 'beamAllocBytes'))} MB |

What each figure means:
- **load**: Infill: from the worker holding the file's bytes to its \`loaded\` event (GGUF parse, tokenizer,
  weights, Q4_1→Q8_0 re-encoding when the file has Q4_1); natively the same \`Engine::from_gguf_bytes_with\` call.
  wllama: \`loadModel\` on the same Blob (includes its copy into the worker and llama.cpp's warm-up).
- **prompt**: Infill: from the \`complete\` request to the \`started\` event (prompt built, tokenized, run
  through the model); wllama: llama.cpp's own \`prompt_per_second\` timing.
- **greedy decode**: ${GREEDY_TOKENS} tokens in multi-line mode (no end of text was reached on this prompt). Infill: steps 2 to
  ${GREEDY_TOKENS - 1} as seen by the page (one \`beams\` event per step, so the message and the yield to the event loop are
  included); wllama: llama.cpp's own \`predicted_per_second\` with \`ignore_eos\`, streamed token by token.
  "On the worker's own clock": the engine's \`tokens_per_second\` in its \`done\` report, (steps − 1) ÷ (last step −
  first token) timed inside the worker, without the message to the page and the page's delay in taking it (the
  worker's yield between steps is still in it). Natively the two rows are the same figure.
- **long file**: the prompt of one completion of CPython 3.11's whole \`Lib/heapq.py\` (\`tests/fixtures/pyfolder/stdlib/heapq.py\`) with
  line ${LONG_LINE} hidden, read once in a fresh worker (measured as **prompt**) and once natively; attention over
  every earlier position makes a long prompt slower per token than the ${promptTokens}-token one.
- **5-beam step**: median time of one step of a 5-beam search on the same prompt (${BEAM_TOKENS} tokens, steps 2 on).
- **wasm memory**: the engine's wasm linear memory (it never shrinks, so each figure is the peak so far): after
  the load, and after the greedy and 5-beam searches. The Q8_0-file column is only loaded, not run.
- **Easy 40**: the 40 built-in tasks (\`infill dataset\` on \`data/easy40.py\`) as \`complete\` requests with the
  page's defaults and 5 beams, one after the other in one worker. Then the same tasks the way a person runs them:
  a fresh page of the product (\`index.html\`), 5 beams, “Use Easy 40”, Start, with the batch section's default
  “Engines: auto” (one engine per core, up to four, each a worker with its own copy of the model); timed from
  opening the page (so the page, the wasm module and the model load count) to the run's \`done\`.
- **native**: \`bench/native\` (\`infill-bench\`), the same engine calls timed with \`Instant\`, \`RAYON_NUM_THREADS\` = 1 or 2,
  once in each run right after the browser's figures, so each wasm ÷ native ratio is taken within a run.
`;
  writeFileSync(join(BENCH, 'results.md'), md);
  writeFileSync(join(OUT, 'last.json'), JSON.stringify({ machine, sizes, othersCpu, wallS, runs, native1, native2, easy, longFile, product, products }, null, 1));
}
