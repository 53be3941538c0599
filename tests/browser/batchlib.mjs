// Helpers shared by the batch evaluation browser tests (batch.test.mjs, humaneval.test.mjs): driving the batch
// section of the page, and holding its exports against what the `infill` CLI prints for the same tasks and
// settings.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CLI, MODEL, OUT, base, waitStatus } from './harness.mjs';

/** Runs the CLI; returns {stdout, stderr, seconds} and fails on a non-zero exit. */
export function cli(args) {
  const t0 = Date.now();
  const r = spawnSync(CLI, args, { encoding: 'utf8', maxBuffer: 1 << 28 });
  assert.equal(r.status, 0, `infill ${args.join(' ')} failed: ${r.stderr}`);
  return { stdout: r.stdout, stderr: r.stderr, seconds: (Date.now() - t0) / 1000 };
}

export const jsonl = (text) => text.split('\n').filter(Boolean).map((l) => JSON.parse(l));

/** Opens the page and waits for the default model. */
export async function open(page) {
  await page.goto(base);
  assert.equal(await waitStatus(page, ['ready', 'error'], 180_000), 'ready', 'the model did not load');
}

/** Sets some of the playground's settings, which a batch run uses. */
export async function useSettings(page, { beams, max }) {
  for (const [id, v] of [['#set-beams', beams], ['#set-max', max]]) {
    if (v === undefined) continue;
    await page.locator(id).fill(String(v));
    await page.locator(id).dispatchEvent('change');
  }
}

export const count = async (page, id) => Number(await page.getByTestId(`batch-count-${id}`).getAttribute('data-value'));
export const done = (page) => page.getByTestId('batch-progress').evaluate((p) => Number(p.dataset.done));
export const batchState = (page) => page.getByTestId('batch-state').textContent();

/** Waits until at least `n` tasks of the run shown are finished. */
export async function waitDone(page, n, timeout = 300_000) {
  await page.waitForFunction((want) => Number(document.querySelector('[data-testid=batch-progress]')?.dataset.done) >= want,
    n, { timeout, polling: 200 });
}

/** Waits until the run's state is one of `states`, and returns it. */
export async function waitState(page, states, timeout = 600_000) {
  await page.waitForFunction((want) => want.includes(document.querySelector('[data-testid=batch-state]')?.textContent),
    states, { timeout, polling: 200 });
  return batchState(page);
}

/** Clicks a button that downloads a file and returns the file's text. */
export async function downloadText(page, testId) {
  // The button is rebuilt with its preview; wait until it has been stable for a moment before clicking.
  const button = page.getByTestId(testId);
  await button.waitFor();
  await page.waitForTimeout(300);
  const [dl] = await Promise.all([page.waitForEvent('download', { timeout: 30_000 }), button.click()]);
  return readFileSync(await dl.path(), 'utf8');
}

export async function startRun(page) {
  await page.waitForFunction(() => !document.querySelector('[data-testid=batch-start]')?.disabled, null, { timeout: 180_000 });
  await page.getByTestId('batch-start').click();
}

/** The settings the run shown was made with, as the page stored them. */
export async function runSettings(page) {
  const raw = await page.getByTestId('batch-run-settings').getAttribute('data-settings');
  return JSON.parse(raw);
}

/**
 * The `infill eval` flags for the page's settings. Fails on a setting it does not know, so a new page setting
 * cannot silently make the page and the CLI run differently. A task's own code is the context in both
 * (the page sends `context: file` for batch tasks; so does the CLI by default).
 */
export async function evalFlags(page, settings) {
  const known = ['beams', 'max_new_tokens', 'mode', 'sample', 'temperature', 'top_k', 'top_p', 'seed', 'format',
    'context', 'rerank', 'heal', 'constrain'];
  const unknown = Object.keys(settings).filter((k) => !known.includes(k));
  assert.deepEqual(unknown, [], `page settings the CLI comparison does not pass on: ${unknown.join(', ')}`);
  const s = settings;
  const flags = ['--beams', String(s.beams), '--max-new-tokens', String(s.max_new_tokens), '--mode', s.mode,
    '--format', s.format, '--rerank', String(s.rerank), '--context', 'file'];
  if (!s.heal) flags.push('--no-heal');
  if (!s.constrain) flags.push('--no-constrain');
  if (s.sample) flags.push('--sample', '--temperature', String(s.temperature), '--top-k', String(s.top_k), '--top-p', String(s.top_p), '--seed', String(s.seed));
  // The page re-encodes Q4_1 weights to Q8_0 at load (and says so); the CLI does too unless told not to.
  const line = await page.locator('#model-line').textContent();
  if (!line.includes('re-encoded to 8-bit')) flags.push('--keep-quantization');
  return flags;
}

/** `infill eval` on a tasks file with the page's settings: {records, summary (stderr), seconds}. */
export function evalCli(tasksFile, flags) {
  const r = cli(['eval', '--model', MODEL, '--data', tasksFile, ...flags]);
  return { records: jsonl(r.stdout), summary: r.stderr, seconds: r.seconds };
}

/** The rows of an `infill eval`/`merge` summary table: label → {mean, low, high}, and the pair count. */
export function summaryTable(markdown) {
  const rows = {};
  for (const m of markdown.matchAll(/^\| ([\w ]+?) \| (-?[\d.]+) \| (?:\[(-?[\d.]+), (-?[\d.]+)\])? ?\|$/gm)) {
    rows[m[1]] = { mean: Number(m[2]), low: m[3] === undefined ? null : Number(m[3]), high: m[4] === undefined ? null : Number(m[4]) };
  }
  const n = /^(\d+) pairs$/m.exec(markdown);
  return { rows, count: n ? Number(n[1]) : null };
}

/** The page's summary of the run shown equals the table `infill eval` printed (to the 4 decimals it prints). */
export async function assertSameSummary(page, markdown, what) {
  const want = summaryTable(markdown);
  const keys = ['exact', 'exact_stripped', 'chrf', 'chrf_pp', 'bleu', 'wer', 'iou', 'edit_sim'];
  assert.equal(Object.keys(want.rows).length, keys.length + 2, `${what}: unexpected infill eval summary:\n${markdown}`);
  // The summary follows the run; wait for the one over every scored task.
  await page.waitForFunction((n) => document.querySelector('[data-testid=batch-summary] caption')?.textContent.startsWith(`${n} scored tasks`),
    want.count, { timeout: 60_000 });
  const close = (a, b) => Math.abs(a - b) <= 0.5e-4 + 1e-12;
  for (const key of [...keys, 'corpus_chrf', 'corpus_bleu']) {
    const label = key === 'corpus_chrf' ? 'corpus chrF' : key === 'corpus_bleu' ? 'corpus BLEU' : key;
    const td = page.getByTestId(`batch-summary-${key}`);
    const shown = Number(await td.getAttribute('data-value'));
    assert.ok(close(shown, want.rows[label].mean), `${what} ${key}: page ${shown}, infill eval ${want.rows[label].mean}`);
    if (want.rows[label].low !== null) {
      const [low, high] = await td.evaluate((cell) => [Number(cell.nextElementSibling.dataset.low), Number(cell.nextElementSibling.dataset.high)]);
      assert.ok(close(low, want.rows[label].low) && close(high, want.rows[label].high),
        `${what} ${key} 95% interval: page [${low}, ${high}], infill eval [${want.rows[label].low}, ${want.rows[label].high}]`);
    }
  }
  const caption = await page.getByTestId('batch-summary').locator('caption').textContent();
  assert.ok(caption.startsWith(`${want.count} scored tasks`), `${what}: page says "${caption}", infill eval ${want.count} pairs`);
}

/**
 * The page against `infill eval` on the same tasks and settings. The wasm build and the native build compute
 * bit-identical logits (src/kernels.rs: one order of float operations on every target, no platform libm), so
 * every record must be equal field for field: the completion, its token count, the cosine of the model's
 * hidden states and every score. Only the timing (`ms`) and the prompt-cache reuse (`cached_tokens`, which
 * depends on which task ran before in that process) may differ. The page's scores must also be the native
 * scoring of its completions, and its summary `infill merge`'s summary of its records.
 */
export async function assertAgreesWithCli(page, pageRecords, cliRecords, what) {
  assert.equal(pageRecords.length, cliRecords.length, `${what}: ${pageRecords.length} records in the page, ${cliRecords.length} from the CLI`);
  pageRecords.forEach((p, i) => {
    const n = cliRecords[i];
    assert.equal(p.id, n.id, `${what}: task ${i} is ${p.id} in the page, ${n.id} from the CLI`);
    assert.equal(p.middle, n.middle, `${what}: task ${i} hides another line`);
    assert.equal(p.prompt_tokens, n.prompt_tokens, `${what}: task ${i} prompt has ${p.prompt_tokens} tokens in the page, ${n.prompt_tokens} from the CLI`);
  });
  // The page's scores are the native scores of the page's completions, task by task ...
  const pairs = join(OUT, `${what.replace(/\W+/g, '_')}-page-pairs.jsonl`);
  writeFileSync(pairs, pageRecords.map((r) => `${JSON.stringify({ hypothesis: r.completion, reference: r.middle })}\n`).join(''));
  const scored = cli(['score', '--input', pairs]).stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l));
  assert.equal(scored.length, pageRecords.length);
  pageRecords.forEach((p, i) => {
    for (const k of ['exact', 'exact_stripped', 'chrf', 'chrf_pp', 'bleu', 'wer', 'iou', 'edit_sim']) {
      assert.ok(Math.abs(Number(p[k]) - Number(scored[i][k])) <= 1e-9, `${what}: task ${i} ${k}: page ${p[k]}, native score of the same strings ${scored[i][k]}`);
    }
  });
  // ... and its summary is `infill merge`'s summary of the page's records.
  const merged = join(OUT, `${what.replace(/\W+/g, '_')}-page.jsonl`);
  writeFileSync(merged, pageRecords.map((r) => `${JSON.stringify(r)}\n`).join(''));
  await assertSameSummary(page, cli(['merge', merged]).stderr, `${what} (page records through infill merge)`);
  const same = pageRecords.filter((p, i) => p.completion === cliRecords[i].completion).length;
  const exact = (rs) => rs.filter((r) => Number(r.exact_stripped) === 1).length;
  console.log(`  ${what}: ${same}/${pageRecords.length} completions identical to infill eval; exact (stripped) `
    + `${exact(pageRecords)} in the page, ${exact(cliRecords)} from the CLI`);
  pageRecords.forEach((p, i) => {
    const n = cliRecords[i];
    for (const k of Object.keys(n)) {
      if (k === 'ms' || k === 'cached_tokens') continue;
      assert.deepEqual(p[k], n[k], `${what}: task ${i} (${n.id}) ${k}: page ${JSON.stringify(p[k])}, infill eval ${JSON.stringify(n[k])}`);
    }
  });
}
