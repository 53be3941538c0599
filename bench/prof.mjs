// Where a decoding step's time goes in the page's wasm: V8's sampling profiler, read from a Chrome trace of
// one `complete` request (after a first one that leaves the prompt cached), self time per function.
// Function names need a build that keeps the wasm name section (the `wasm` profile strips it):
//   CARGO_TARGET_DIR=target/names CARGO_PROFILE_WASM_STRIP=false trunk build --release --dist /tmp/dist-names
//   DIST=/tmp/dist-names BEAMS=5 TOKENS=40 node bench/prof.mjs
// Without DIST it profiles dist/ (names show as wasm-function[N]). EASY=N runs the first N Easy 40 tasks
// instead (needs target/release/infill); TRACE=0 only times. Needs bench/node_modules (npm ci).
import { chromium } from 'playwright-core';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { serve } from './server.mjs';
const BENCH = dirname(fileURLToPath(import.meta.url));
const ROOT = join(BENCH, '..');
const server = await serve({ '/bench/': BENCH, '/wllama/': join(BENCH, 'node_modules', '@wllama', 'wllama', 'esm'), '/': process.env.DIST || join(ROOT, 'dist') });
const base = `http://127.0.0.1:${server.address().port}`;
const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox', '--disable-gpu'] });
const page = await browser.newPage();
page.setDefaultTimeout(600_000);
await page.goto(`${base}/bench/bench.html`);
await page.waitForFunction(() => document.getElementById('status')?.textContent === 'ready');
const code = readFileSync(join(BENCH, 'heapq_merge.py'), 'utf8');
await page.evaluate(() => bench.infillStart());
await page.evaluate(([u]) => bench.infillLoad(u, true), ['/models/SmolLM2-135M-Instruct.Q4_1.gguf']);
const beams = Number(process.env.BEAMS || 5);
const settings = { beams, max_new_tokens: Number(process.env.TOKENS || 40), mode: 'multi', cosine: false };
await page.evaluate(([c, s]) => bench.infillComplete(c, 48, s), [code, settings]); // warm: the prompt is cached after this
const tracing = process.env.TRACE !== '0';
if (tracing) await browser.startTracing(page, { categories: ['disabled-by-default-v8.cpu_profiler', 'v8'] });
if (process.env.EASY) {
  // The first EASY tasks of Easy 40 (`infill dataset data`), one `complete` request each, as a batch runs them.
  const { execFileSync } = await import('node:child_process');
  const tasks = execFileSync(join(ROOT, 'target', 'release', 'infill'), ['dataset', join(ROOT, 'data')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })
    .split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l)).slice(0, Number(process.env.EASY));
  const r = await page.evaluate(([t, s]) => bench.infillBatch(t, s), [tasks, { beams }]);
  console.log(`Easy 40, first ${tasks.length} tasks, beams ${beams}: ${(r.ms / 1000).toFixed(1)} s, ${r.tokens} steps`);
} else {
  const r = await page.evaluate(([c, s]) => bench.infillComplete(c, 48, s), [code, settings]);
  const sorted = r.stepMs.slice().sort((a, b) => a - b);
  console.log(`beams ${beams}: median step ${sorted[sorted.length >> 1].toFixed(1)} ms, prefill ${r.prefillMs.toFixed(0)} ms, last ${r.lastStepMs.toFixed(0)} ms`);
}
const trace = tracing ? JSON.parse((await browser.stopTracing()).toString()) : { traceEvents: [] };
// Aggregate self time by function name over every thread's profile chunks.
const nodes = new Map();
const self = new Map();
for (const ev of trace.traceEvents) {
  if (ev.name !== 'ProfileChunk') continue;
  const key = `${ev.pid}:${ev.id}`;
  const cp = ev.args?.data?.cpuProfile;
  if (!cp) continue;
  for (const n of cp.nodes || []) nodes.set(`${key}:${n.id}`, n.callFrame.functionName || n.callFrame.url || '(anon)');
  const deltas = ev.args.data.timeDeltas || [];
  (cp.samples || []).forEach((s, i) => {
    const name = nodes.get(`${key}:${s}`) || '?';
    self.set(name, (self.get(name) || 0) + (deltas[i] || 0));
  });
}
const total = [...self.values()].reduce((a, b) => a + b, 0);
for (const [n, us] of [...self.entries()].sort((a, b) => b[1] - a[1]).slice(0, 25)) {
  console.log(`${(100 * us / total).toFixed(1).padStart(5)}%  ${(us / 1000).toFixed(0).padStart(6)} ms  ${n.slice(0, 110)}`);
}
await browser.close();
server.close();
