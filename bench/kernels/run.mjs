// Times bench/kernels' loops in headless Chromium: ns per weight row and block of 32, medians of 7.
//   cd bench/kernels && RUSTFLAGS="-C target-feature=+simd128,+relaxed-simd" \
//     cargo build --release --target wasm32-unknown-unknown && node run.mjs
// Needs bench/node_modules (npm ci --prefix bench) and /usr/bin/chromium.
import { chromium } from '../node_modules/playwright-core/index.mjs';
import { readFileSync } from 'node:fs';
const wasm = readFileSync(new URL('target/wasm32-unknown-unknown/release/infill_kernels_bench.wasm', import.meta.url));
const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox', '--disable-gpu'] });
const page = await browser.newPage();
const lines = await page.evaluate(async (bytes) => {
  const { instance } = await WebAssembly.instantiate(new Uint8Array(bytes), {});
  const e = instance.exports;
  const names = ['Q8_0, 1 row', 'Q8_0, 5 rows', '4-bit relaxed, 1 row', '4-bit relaxed, 5 rows'];
  const out = [];
  // SmolLM2's up projection (L2-sized), and a matrix far larger than the caches (as a whole step streams).
  for (const [rows, cols] of [[1536, 576], [196608, 576]]) {
    e.setup(rows, cols);
    const ns = [];
    for (let w = 0; w < 4; w++) {
      e.run(w, 3);
      const times = Math.max(1, Math.round(2e8 / (rows * cols)));
      const t = [];
      for (let r = 0; r < 7; r++) { const t0 = performance.now(); e.run(w, times); t.push((performance.now() - t0) / times); }
      t.sort((a, b) => a - b);
      ns.push(t[3] * 1e6 / (rows * cols / 32));
    }
    out.push(`${rows}×${cols}: ` + ns.map((v, i) => `${names[i]} ${v.toFixed(2)} ns`).join(', ') +
      `; 5 rows ÷ 1 row: Q8_0 ${(ns[1] / ns[0]).toFixed(2)}, 4-bit ${(ns[3] / ns[2]).toFixed(2)}`);
  }
  return out;
}, [...wasm]);
console.log(lines.join('\n'));
await browser.close();
