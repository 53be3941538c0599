// Shared setup for the browser tests: a static server for dist/, one headless Chromium, and helpers.
import { chromium } from 'playwright-core';
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import assert from 'node:assert/strict';
import { serve } from './server.mjs';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const DIST = join(ROOT, 'dist');
export const CLI = join(ROOT, 'target', 'release', 'infill');
export const MODEL = join(ROOT, 'models', 'SmolLM2-135M-Instruct.Q4_1.gguf');
export const OUT = join(ROOT, 'tests', 'browser', 'out');
mkdirSync(OUT, { recursive: true });

export const server = await serve(DIST);
export const base = `http://127.0.0.1:${server.address().port}/`;
export const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync'],
});

export const results = [];

/** Runs one test in a fresh browser context; a failure is recorded with a screenshot, not thrown. */
export async function test(name, fn, { viewport = { width: 1280, height: 900 } } = {}) {
  // TEST_GREP='a|b' runs only the tests whose name contains a or b (to split long files into short runs).
  if (process.env.TEST_GREP && !process.env.TEST_GREP.split('|').some((g) => name.includes(g))) return;
  const started = Date.now();
  const context = await browser.newContext({ viewport });
  const page = await context.newPage();
  const pageErrors = [];
  page.on('pageerror', (e) => pageErrors.push(String(e)));
  try {
    await fn(page, context);
    assert.deepEqual(pageErrors, [], 'uncaught errors in the page');
    results.push({ name, ok: true });
    console.log(`ok - ${name} (${((Date.now() - started) / 1000).toFixed(1)} s)`);
  } catch (e) {
    results.push({ name, ok: false });
    console.log(`not ok - ${name}\n${e.stack || e}`);
    await page.screenshot({ path: join(OUT, `${name.replace(/\W+/g, '_')}.png`) }).catch(() => {});
  } finally {
    await context.close();
  }
}

/** The text of the status pill. */
export const status = (page) => page.getByTestId('status').textContent();

/** Waits until the status is one of `wanted`, and returns it. */
export async function waitStatus(page, wanted, timeout) {
  await page.waitForFunction((w) => {
    const s = document.querySelector('[data-testid=status]')?.textContent;
    return w.includes(s);
  }, wanted, { timeout, polling: 100 });
  return status(page);
}

/** Opens the page (with an optional query string), waits for the model, puts `code` in the editor. */
export async function openWithCode(page, code, query = '') {
  await page.goto(base + query);
  assert.equal(await waitStatus(page, ['ready', 'error'], 180_000), 'ready', 'the model did not load');
  await page.getByTestId('code').fill(code);
}

/** Runs the native CLI and returns its standard output. */
export function native(args) {
  return execFileSync(CLI, args, { encoding: 'utf8', maxBuffer: 1 << 24 });
}

let written = 0;
/** Writes one JSONL record to a fresh file under out/ and returns its path. */
export function writeJsonl(record) {
  const f = join(OUT, `rec${written++}.jsonl`);
  writeFileSync(f, JSON.stringify(record) + '\n');
  return f;
}
