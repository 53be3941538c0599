// Browser tests of batch evaluation (www/batch.js + src/web/batch.rs): the real page, the real default model,
// Easy 40 and the fixture folder. What a person checks: the preview holds exactly the tasks `infill dataset`
// makes (skipped files with their reasons), an Easy 40 run with 5 beams gives exactly what `infill eval` prints
// for the same tasks and settings, pause/resume/cancel do what they say, a reload loses no finished task, two
// runs compare task by task, and the exports (CSV, JSONL, HTML) hold the run, with hostile text kept harmless.
// HumanEval (100 tasks imported as JSONL) against `infill eval` is humaneval.test.mjs.
import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { OUT, ROOT, browser, test, waitStatus } from './harness.mjs';
import {
  assertAgreesWithCli, batchState, cli, count, done, downloadText, evalCli, evalFlags, jsonl, open,
  runSettings, startRun, useSettings, waitDone, waitState,
} from './batchlib.mjs';

const PYFOLDER = join(ROOT, 'tests', 'fixtures', 'pyfolder');

/** The summary line and skipped files `infill dataset` prints on standard error. */
function datasetSummary(stderr) {
  const m = /^(\d+) files read, (\d+) functions, (\d+) tasks; (\d+) files skipped$/m.exec(stderr);
  assert.ok(m, `unexpected infill dataset output: ${stderr}`);
  const skipped = [...stderr.matchAll(/^ {2}skipped (.+?): (.+)$/gm)].map((x) => ({ path: x[1], reason: x[2] }));
  return { read: +m[1], functions: +m[2], tasks: +m[3], skipped: +m[4], list: skipped };
}

const pyFiles = (dir) => readdirSync(dir).flatMap((n) => {
  const p = join(dir, n);
  return statSync(p).isDirectory() ? pyFiles(p) : n.endsWith('.py') ? [p] : [];
});

async function easy40(page) {
  await page.getByTestId('batch-easy40').click();
  await page.waitForFunction(() => document.querySelector('[data-testid=batch-preview] h3')?.textContent === 'Preview: Easy 40',
    null, { timeout: 30_000 });
  assert.equal(await count(page, 'tasks'), 40);
}

/** Parses RFC 4180 CSV (quoted fields may hold commas, quotes and line breaks). */
function parseCsv(text) {
  const rows = [];
  let row = []; let cell = ''; let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') { cell += '"'; i++; } else if (c === '"') quoted = false; else cell += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') { row.push(cell); cell = ''; } else if (c === '\r' && text[i + 1] === '\n') { row.push(cell); rows.push(row); row = []; cell = ''; i++; } else cell += c;
  }
  if (cell !== '' || row.length) { row.push(cell); rows.push(row); }
  return rows;
}

await test('a chosen folder previews exactly the tasks, functions and skipped files of `infill dataset`', async (page) => {
  await open(page);
  await page.getByTestId('batch-folder').setInputFiles(PYFOLDER);
  await page.getByTestId('batch-count-tasks').waitFor();
  const want = datasetSummary(cli(['dataset', PYFOLDER]).stderr);
  assert.equal(await count(page, 'files'), pyFiles(PYFOLDER).length);
  assert.equal(await count(page, 'read'), want.read);
  assert.equal(await count(page, 'functions'), want.functions);
  assert.equal(await count(page, 'tasks'), want.tasks);
  assert.equal(await count(page, 'skipped'), want.skipped);
  const shown = await page.getByTestId('batch-skipped').locator('li').allTextContents();
  assert.deepEqual(shown, want.list.map((s) => `${s.path}: ${s.reason}`));

  assert.equal(await downloadText(page, 'batch-tasks-jsonl'), cli(['dataset', PYFOLDER]).stdout, 'the tasks differ from `infill dataset`');

  // Another seed, then every line, then the whole file as context: byte-identical to `infill dataset --seed 7 ...`.
  // Each in a tab of its own, options set before the folder is chosen.
  for (const [mode, context, args] of [['one_random', 'function', []], ['every_line', 'function', ['--every-line']], ['one_random', 'file', ['--context', 'file']]]) {
    const tab = await page.context().newPage();
    await open(tab);
    await tab.getByTestId('batch-seed').fill('7');
    await tab.getByTestId('batch-mode').selectOption(mode);
    await tab.getByTestId('batch-context').selectOption(context);
    await tab.getByTestId('batch-folder').setInputFiles(PYFOLDER);
    const want7 = cli(['dataset', PYFOLDER, '--seed', '7', ...args]);
    const how = `Seed 7, ${mode === 'every_line' ? 'every line of each function' : 'one line per function'}, the model sees ${context === 'file' ? 'the whole file' : 'the function'}.`;
    await tab.waitForFunction((c) => document.querySelector('[data-testid=batch-preview]')?.textContent.includes(c), how, { timeout: 30_000 });
    assert.equal(await count(tab, 'tasks'), datasetSummary(want7.stderr).tasks);
    assert.equal(await downloadText(tab, 'batch-tasks-jsonl'), want7.stdout, `the tasks (--seed 7 ${args.join(' ')}) differ from \`infill dataset\``);
    await tab.close();
  }

  // Easy 40: its tasks are `infill dataset data/` (easy40.py is the only Python file there).
  await easy40(page);
  assert.deepEqual([await count(page, 'files'), await count(page, 'functions'), await count(page, 'skipped')], [1, 40, 0]);
  const easyTasks = await downloadText(page, 'batch-tasks-jsonl');
  assert.equal(easyTasks, cli(['dataset', join(ROOT, 'data')]).stdout);

  // Tasks imported as JSONL: a bad line is named; good tasks come back as they went in.
  const bad = `${easyTasks.split('\n')[0]}\n{"id": "x", "prefix": 3}\n`;
  await page.getByTestId('batch-jsonl').setInputFiles({ name: 'bad.jsonl', mimeType: 'application/x-ndjson', buffer: Buffer.from(bad) });
  await page.waitForFunction(() => /line 2: /.test(document.querySelector('[data-testid=batch-preview]')?.textContent ?? ''), null, { timeout: 30_000 });
  assert.match(await page.getByTestId('batch-preview').textContent(), /^The tasks could not be built: the tasks file is not tasks JSON Lines: line 2: /);
  await page.getByTestId('batch-jsonl').setInputFiles({ name: 'easy40.jsonl', mimeType: 'application/x-ndjson', buffer: Buffer.from(easyTasks) });
  await page.waitForFunction(() => document.querySelector('[data-testid=batch-preview] h3')?.textContent === 'Preview: easy40.jsonl', null, { timeout: 30_000 });
  assert.deepEqual([await count(page, 'files'), await count(page, 'functions'), await count(page, 'tasks')], [1, 40, 40]);
  assert.equal(await downloadText(page, 'batch-tasks-jsonl'), easyTasks);
});

await test('files dropped on the drop zone are previewed, and the page-wide model drop stays out of it', async (page) => {
  await open(page);
  await page.getByTestId('batch-drop').evaluate((zone) => {
    const dt = new DataTransfer();
    dt.items.add(new File(['def f(x):\n    y = x + 1\n    return y\n'], 'a.py'));
    dt.items.add(new File(['def g():\n    return 2\n\ndef h(:\n'], 'b.py'));
    dt.items.add(new File(['not python'], 'notes.txt'));
    for (const type of ['dragenter', 'dragover', 'drop']) zone.dispatchEvent(new DragEvent(type, { dataTransfer: dt, bubbles: true, cancelable: true }));
  });
  await page.getByTestId('batch-count-tasks').waitFor();
  assert.deepEqual([await count(page, 'files'), await count(page, 'read'), await count(page, 'tasks'), await count(page, 'skipped')], [2, 1, 1, 1]);
  assert.match(await page.getByTestId('batch-skipped').textContent(), /^b\.py: syntax error at line \d+/);
  assert.equal(await page.getByTestId('error').isHidden(), true, 'the drop was also taken as a model file');
  assert.equal(await page.getByTestId('drop-overlay').isHidden(), true);
  assert.equal(await page.getByTestId('status').textContent(), 'ready');
});

await test('Easy 40 with 5 beams equals `infill eval`; a second run pauses, resumes, survives a reload, cancels, and compares', async (page) => {
  // Run A: Easy 40 with 5 beams (the other settings the page's defaults), from start to end, undisturbed.
  const t0 = Date.now();
  await open(page);
  const loadedAt = Date.now();
  await useSettings(page, { beams: 5 });
  await easy40(page);
  assert.match(await page.getByTestId('batch-start-hint').textContent(), /· 5 beams ·/);
  const tasksFile = join(OUT, 'easy40-tasks.jsonl');
  writeFileSync(tasksFile, await downloadText(page, 'batch-tasks-jsonl'));
  const startedAt = Date.now();
  await startRun(page);
  await waitDone(page, 1);
  // The main thread stays free while the worker decodes.
  const ping = Date.now();
  await page.evaluate(() => 1);
  assert.ok(Date.now() - ping < 250, `main thread blocked for ${Date.now() - ping} ms`);
  assert.equal(await waitState(page, ['done'], 900_000), 'done');
  const doneAt = Date.now();
  const pageRate = Number(await page.getByTestId('batch-progress-text').getAttribute('data-rate'));
  // “Engines: auto” runs one engine per core (up to four): on a machine with two cores or more, more than one.
  const cores = await page.evaluate(() => navigator.hardwareConcurrency);
  const engines = Number(await page.getByTestId('batch-progress-text').getAttribute('data-engines'));
  assert.equal(engines, Math.min(4, Math.max(1, cores)), `${engines} engines ran on ${cores} cores`);
  const settings = await runSettings(page);
  assert.equal(settings.beams, 5);
  const a = jsonl(await downloadText(page, 'batch-export-jsonl'));
  assert.equal(a.length, 40);
  assert.deepEqual(a.map((r) => r.index), [...Array(40).keys()]);
  for (const r of a) assert.ok(typeof r.completion === 'string' && !/[\r\n]/.test(r.completion), `task ${r.index}: ${JSON.stringify(r)}`);

  const pageLine = `Easy 40, ${settings.beams} beams, ${engines} engines: page ${((doneAt - startedAt) / 1000).toFixed(1)} s for the run = `
    + `${(40 / ((doneAt - startedAt) / 60_000)).toFixed(1)} tasks/min (page shows ${pageRate.toFixed(1)}), `
    + `${((doneAt - t0) / 1000).toFixed(1)} s with page and model load (load ${((loadedAt - t0) / 1000).toFixed(1)} s)`;
  console.log(`  ${pageLine}`);
  writeFileSync(join(OUT, 'easy40-page.jsonl'), a.map((r) => `${JSON.stringify(r)}\n`).join(''));

  // Table: sorting by chrF puts the best first; the filter keeps matching rows; a row opens its detail.
  await page.getByTestId('batch-sort-chrf').click();
  const chrf = await page.locator('[data-testid^=batch-row-] td[data-col=chrf]').evaluateAll((tds) => tds.map((td) => Number(td.dataset.value)));
  assert.equal(chrf.length, 40);
  assert.deepEqual(chrf, [...chrf].sort((x, y) => y - x));
  await page.getByTestId('batch-filter').fill('gcd');
  const rows = await page.locator('[data-testid^=batch-row-]').allTextContents();
  assert.ok(rows.length >= 1 && rows.length < 40 && rows.every((t) => t.includes('gcd')), `filter: ${rows.length} rows`);
  await page.locator('[data-testid^=batch-row-]').first().click();
  const idx = Number(await page.locator('[data-testid^=batch-row-]').first().getAttribute('data-index'));
  assert.equal(await page.getByTestId('batch-detail-target').textContent(), a[idx].middle);
  assert.equal(await page.getByTestId('batch-detail-completion').textContent(), a[idx].completion);
  const beams = await page.getByTestId('batch-detail-beams').locator('li code').allTextContents();
  assert.ok(beams.length >= 1 && beams.length <= 5 && beams[0] === a[idx].completion, `beams shown: ${JSON.stringify(beams)}`);
  assert.ok((await page.getByTestId('batch-detail-prompt').textContent()).includes('def '), 'the prompt is not shown');
  await page.getByTestId('batch-filter').fill('');
  assert.equal(await page.locator('[data-testid^=batch-hist-]').count(), 9);

  // CSV: one row per task, numbers as numbers, the same completions and scores as the JSONL.
  const csv = parseCsv((await downloadText(page, 'batch-export-csv')).replace(/^\ufeff/, ''));
  assert.equal(csv.length, 41);
  const col = (name) => csv[0].indexOf(name);
  for (const r of a) {
    const row = csv[r.index + 1];
    assert.equal(row[col('id')], r.id);
    assert.equal(row[col('completion')].replace(/^'(?=[=+\-@\t\r])/, ''), r.completion);
    for (const k of ['chrf', 'edit_sim', 'exact']) assert.ok(Math.abs(Number(row[col(k)]) - Number(r[k])) < 1e-9, `CSV ${k} of task ${r.index}`);
  }

  // The HTML report opens in a browser with no network, on its own, with every task and the summary.
  const report = join(OUT, 'easy40-report.html');
  writeFileSync(report, await downloadText(page, 'batch-export-html'));
  const offlineContext = await browser.newContext({ offline: true });
  const offline = await offlineContext.newPage();
  const fetched = [];
  offline.on('request', (r) => { if (!r.url().startsWith('file:')) fetched.push(r.url()); });
  await offline.goto(pathToFileURL(report).href);
  assert.equal(await offline.locator('svg').count(), 9);
  assert.equal(await offline.locator('script').count(), 0);
  const reportRows = await offline.locator('table').last().locator('tr').allTextContents();
  assert.equal(reportRows.length, 41);
  for (const r of a) assert.ok(reportRows[r.index + 1].includes(r.middle.trim()), `task ${r.index} is not in the report`);
  const exactRow = await offline.locator('tr', { has: offline.locator('th', { hasText: /^Exact match$/ }) }).first().textContent();
  const meanExact = a.reduce((s, r) => s + Number(r.exact), 0) / 40;
  assert.ok(exactRow.includes(Number.isInteger(meanExact) ? String(meanExact) : meanExact.toFixed(3)), `report: ${exactRow}, mean ${meanExact}`);
  assert.deepEqual(fetched, [], 'the report fetched something');
  await offlineContext.close();

  // Run B, greedy: pause stops it, resume goes on, a reload loses no finished task and the run continues.
  await useSettings(page, { beams: 1 });
  await easy40(page);
  await startRun(page);
  await waitDone(page, 2);
  await page.getByTestId('batch-pause').click();
  assert.equal(await waitState(page, ['paused'], 5_000), 'paused');
  const paused = await done(page);
  await page.waitForTimeout(2_500);
  assert.equal(await done(page), paused, 'tasks finished while paused');
  await page.getByTestId('batch-resume').click();
  await waitDone(page, paused + 2);
  const before = jsonl(await downloadText(page, 'batch-export-jsonl'));
  assert.ok(before.length >= paused + 2);
  await page.reload();
  assert.equal(await waitStatus(page, ['ready', 'error'], 180_000), 'ready');
  await waitDone(page, before.length + 2);
  assert.equal(await batchState(page), 'running', 'the run did not go on after the reload');
  const afterReload = jsonl(await downloadText(page, 'batch-export-jsonl'));
  for (const r of before) assert.deepEqual(afterReload[r.index], r, `task ${r.index} was not kept as it was before the reload`);
  assert.ok(afterReload.every((r) => r.generated_tokens >= 1 && typeof r.completion === 'string'));

  // Cancel stops it for good; the finished tasks stay.
  const c0 = Date.now();
  await page.getByTestId('batch-cancel').click();
  assert.equal(await waitState(page, ['cancelled'], 5_000), 'cancelled');
  assert.ok(Date.now() - c0 < 3_000, 'cancel took more than 3 s');
  const kept = await done(page);
  await page.waitForTimeout(2_000);
  assert.equal(await done(page), kept, 'tasks finished after cancel');
  assert.ok(kept < 40, 'the run finished before it could be cancelled');
  assert.equal(await page.getByTestId('batch-resume').isHidden(), true);
  assert.equal(await page.locator('[data-testid^=batch-row-]').count(), kept);
  const b = jsonl(await downloadText(page, 'batch-export-jsonl'));
  assert.equal(b.length, kept);

  // Compare A (5 beams) with B (greedy): per-task deltas, biggest first, and the mean deltas.
  await page.locator('#batch-compare-block > summary').click();
  const runIds = await page.getByTestId('batch-compare-a').locator('option').evaluateAll((os) => os.map((o) => o.value));
  assert.equal(runIds.length, 2, 'the 5-beam run did not survive the reload');
  await page.getByTestId('batch-compare-a').selectOption(runIds[1]); // the older run (newest is listed first)
  await page.getByTestId('batch-compare-b').selectOption(runIds[0]);
  await page.getByTestId('batch-compare-metric').selectOption('chrf');
  await page.getByTestId('batch-compare-go').click();
  await page.getByTestId('batch-compare-summary').waitFor();
  const byId = new Map(b.map((r) => [r.id, r]));
  const common = a.filter((r) => byId.has(r.id));
  assert.equal(common.length, kept);
  const expected = common.map((r) => ({ id: r.id, d: byId.get(r.id).chrf - r.chrf, differ: byId.get(r.id).completion !== r.completion }))
    .filter((x) => x.d !== 0 || x.differ);
  const shown = await page.getByTestId('batch-compare-row').evaluateAll((trs) => trs.map((tr) => ({ id: tr.dataset.id, d: Number(tr.dataset.delta) })));
  assert.equal(shown.length, expected.length, `${shown.length} disagreements shown, ${expected.length} expected`);
  for (const s of shown) {
    const e = expected.find((x) => x.id === s.id);
    assert.ok(e && Math.abs(e.d - s.d) < 1e-9, `task ${s.id}: delta ${s.d}, expected ${e?.d}`);
  }
  const mags = shown.map((s) => Math.abs(s.d));
  assert.deepEqual(mags, [...mags].sort((x, y) => y - x), 'the biggest disagreements are not first');
  const meanA = common.reduce((s, r) => s + r.chrf, 0) / common.length;
  const meanB = common.reduce((s, r) => s + byId.get(r.id).chrf, 0) / common.length;
  const delta = Number(await page.getByTestId('batch-compare-delta-chrf').getAttribute('data-value'));
  assert.ok(Math.abs(delta - (meanB - meanA)) < 1e-9, `mean delta ${delta}, expected ${meanB - meanA}`);
  // Last (it takes longest): the JSONL export of run A is what `infill eval` prints for the same tasks and
  // settings, task by task, and the summary on the page is its summary table.
  await page.getByTestId('batch-run-select').selectOption(runIds[1]);
  await page.waitForFunction(() => document.querySelector('[data-testid=batch-progress]')?.dataset.done === '40', null, { timeout: 30_000 });
  const flags = await evalFlags(page, settings);
  const native = evalCli(tasksFile, flags);
  writeFileSync(join(OUT, 'easy40-cli.jsonl'), native.records.map((r) => `${JSON.stringify(r)}\n`).join(''));
  const cliRate = /^40\/40 tasks, ([\d.]+) tasks\/min/m.exec(native.summary)?.[1];
  console.log(`  infill eval ${flags.join(' ')}: ${cliRate} tasks/min, ${native.seconds.toFixed(1)} s with model load`);
  await assertAgreesWithCli(page, a, native.records, 'Easy 40');
});

await test('hostile file names and lines stay text, and the CSV cannot run formulas', async (page) => {
  const dir = join(OUT, 'hostile');
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const evil = '=HYPERLINK("http:evil")<img src=x onerror="window.__pwned=1">.py';
  writeFileSync(join(dir, evil), 'def render(name):\n    doc = """\n=1+2\n+SUM(A1:A3)\n-2+3\n@SUM(A1)\n\tTAB\n"""\n    return doc + name\n');
  writeFileSync(join(dir, '-minus.py'), 'def f():\n    return "<script>window.__pwned=2</script>"\n');
  const dialogs = [];
  page.on('dialog', (d) => { dialogs.push(d.message()); d.dismiss(); });
  await open(page);
  await useSettings(page, { beams: 1, max: 6 });
  await page.getByTestId('batch-mode').selectOption('every_line');
  await page.getByTestId('batch-folder').setInputFiles(dir);
  await page.getByTestId('batch-count-tasks').waitFor();
  const want = datasetSummary(cli(['dataset', dir, '--every-line']).stderr);
  assert.equal(await count(page, 'tasks'), want.tasks);
  await startRun(page);
  assert.equal(await waitState(page, ['done'], 180_000), 'done');
  assert.ok((await page.getByTestId('batch-table').textContent()).includes(evil), 'the file name is not shown as text');
  await page.locator('[data-testid^=batch-row-]').nth(2).click();

  const csv = parseCsv((await downloadText(page, 'batch-export-csv')).replace(/^\ufeff/, ''));
  const header = csv[0];
  const numeric = new Set(['index', 'start_line', 'end_line', 'masked_line', 'exact', 'exact_stripped', 'chrf', 'chrf_pp',
    'bleu', 'wer', 'iou', 'edit_sim', 'cosine', 'generated_tokens', 'prompt_tokens', 'ms']);
  const records = jsonl(await downloadText(page, 'batch-export-jsonl'));
  let prefixed = 0;
  for (const row of csv.slice(1)) {
    row.forEach((cell, i) => {
      if (numeric.has(header[i])) assert.ok(cell === '' || Number.isFinite(Number(cell)), `${header[i]}: ${cell}`);
      else assert.doesNotMatch(cell, /^[=+\-@\t\r]/, `a ${header[i]} cell starts a formula: ${JSON.stringify(cell)}`);
    });
    const r = records[Number(row[0])];
    for (const name of ['path', 'middle', 'completion']) {
      const raw = r[name] ?? '';
      const expect = /^[=+\-@\t\r]/.test(raw) ? `'${raw}` : raw;
      if (expect !== raw) prefixed += 1;
      assert.equal(row[header.indexOf(name)], expect);
    }
  }
  assert.ok(prefixed >= 6, `only ${prefixed} cells needed a quote`);
  const cells = await page.evaluate(async () => {
    const { csvCell } = await import('./batch.js');
    return ['\rx', '\tx', '=1', '+1', '-1', '@A', 'a,b', 'say "hi"', '  indented', 'plain', 0.5].map(csvCell);
  });
  assert.deepEqual(cells, ["\"'\rx\"", "'\tx", "'=1", "'+1", "'-1", "'@A", '"a,b"', '"say ""hi"""', '"  indented"', 'plain', '0.5']);

  // Nothing ran: in the page, or in the offline report.
  assert.equal(await page.locator('img[src=x], script:not([src])').count(), 0);
  assert.equal(await page.evaluate(() => window.__pwned), undefined);
  const report = join(OUT, 'hostile-report.html');
  writeFileSync(report, await downloadText(page, 'batch-export-html'));
  const offline = await page.context().newPage();
  await offline.goto(pathToFileURL(report).href);
  assert.ok((await offline.locator('body').textContent()).includes(evil));
  assert.equal(await offline.locator('img, script').count(), 0);
  assert.equal(await offline.evaluate(() => window.__pwned), undefined);
  await offline.close();
  assert.deepEqual(dialogs, []);
});
