// Runs every browser test file (tests/browser/*.test.mjs) against dist/ in Debian's headless Chromium.
// Arguments narrow the run: `node tests/browser/run.mjs batch models` runs only files whose name contains
// one of them.
import { readdirSync } from 'node:fs';
import { browser, results, server } from './harness.mjs';

const files = readdirSync(new URL('.', import.meta.url)).filter((f) => f.endsWith('.test.mjs'))
  .filter((f) => process.argv.length <= 2 || process.argv.slice(2).some((a) => f.includes(a))).sort();
for (const f of files) {
  console.log(`# ${f}`);
  await import(`./${f}`);
}
await browser.close();
server.close();
const passed = results.filter((r) => r.ok).length;
console.log(`\n${passed} passed, ${results.length - passed} failed`);
process.exit(passed === results.length && results.length > 0 ? 0 : 1);
