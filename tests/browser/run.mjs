// Runs every browser test file (tests/browser/*.test.mjs) against dist/ in Debian's headless Chromium.
import { readdirSync } from 'node:fs';
import { browser, results, server } from './harness.mjs';

const files = readdirSync(new URL('.', import.meta.url)).filter((f) => f.endsWith('.test.mjs')).sort();
for (const f of files) {
  console.log(`# ${f}`);
  await import(`./${f}`);
}
await browser.close();
server.close();
const passed = results.filter((r) => r.ok).length;
console.log(`\n${passed} passed, ${results.length - passed} failed`);
process.exit(passed === results.length && results.length > 0 ? 0 : 1);
