// Browser tests of the Models section: the catalog, Hub downloads (progress, errors, resume), the browser's
// model storage, local files (file input and drag and drop). The Hub cannot be reached from the test machine,
// so the test server plays it under /hub/ and the page is opened with `?hub=./hub`; the repositories there
// (test/tiny, flaky/tiny) are made-up names holding the default model's file, never a real repository's name;
// test/bigcode-tiny holds the tiny random-weight GPT-BigCode safetensors fixture of tests/parity.rs (its three
// files), and test/bigcode-noconfig the same without config.json.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MODEL, OUT, ROOT, base, native, server, test, waitStatus } from './harness.mjs';

const FILE = 'SmolLM2-135M-Instruct.Q4_1.gguf';
const MODEL_MB = '98.4 MB';
const HUB = '?hub=./hub';
const ORIGIN = new URL(base).origin;
const XSS_NAME = '<img src=x onerror=alert(1)>.gguf';

const hubDir = mkdtempSync(join(tmpdir(), 'infill-hub-'));
for (const repo of ['test/tiny', 'flaky/tiny']) {
  mkdirSync(join(hubDir, repo), { recursive: true });
  symlinkSync(MODEL, join(hubDir, repo, FILE));
}
const BIGCODE = join(ROOT, 'tests', 'fixtures', 'parity', 'bigcode_tiny');
const BIGCODE_FILES = ['model.safetensors', 'config.json', 'tokenizer.json'];
for (const [repo, files] of [['test/bigcode-tiny', BIGCODE_FILES], ['test/bigcode-noconfig', ['model.safetensors', 'tokenizer.json']]]) {
  mkdirSync(join(hubDir, repo), { recursive: true });
  for (const f of files) symlinkSync(join(BIGCODE, f), join(hubDir, repo, f));
}
const localDir = mkdtempSync(join(tmpdir(), 'infill-local-'));
symlinkSync(MODEL, join(localDir, 'my-own-model.gguf'));
// Both folders hold only links; they are removed when the test process ends.
process.on('exit', () => [hubDir, localDir].forEach((d) => rmSync(d, { recursive: true, force: true })));
server.hub.dir = hubDir;

const SAMPLE = [
  'def average(values):',
  '    """Return the arithmetic mean of a list of numbers."""',
  '    total = 0',
  '    for v in values:',
  '        total += v',
  '    return total / len(values)',
  '',
].join('\n');

const hubPath = (repo, file = FILE) => `/hub/${repo}/resolve/main/${file}`;
const modelHash = (key) => `#model=${encodeURIComponent(key)}`;
const ggufRequests = (since, path) => server.requests.slice(since).filter((r) => (path ? r.path === path : r.path.endsWith('.gguf')));

async function ready(page, timeout = 120_000) {
  assert.equal(await waitStatus(page, ['ready', 'error'], timeout), 'ready', await page.getByTestId('error').textContent());
}

async function openModels(page) {
  if (!(await page.locator('#models').evaluate((d) => d.open))) await page.locator('#models > summary').click();
}

async function loadCustom(page, repo, file) {
  await openModels(page);
  await page.getByTestId('custom-repo').fill(repo);
  await page.getByTestId('custom-file').fill(file);
  await page.getByTestId('custom-load').click();
}

/** Hides line `line`, runs a greedy completion and returns the guess (the page must have a model). */
async function completeOnce(page, line = 6) {
  await page.getByTestId('code').fill(SAMPLE);
  await page.locator('#set-beams').fill('1');
  await page.getByTestId(`line-${line}`).click();
  await page.getByTestId('complete').click();
  const status = await waitStatus(page, ['done', 'error'], 120_000);
  assert.equal(status, 'done', status === 'error' ? await page.getByTestId('error').textContent() : status);
  const guess = await page.getByTestId('completion').textContent();
  assert.ok(guess.trim().length > 0, 'the completion is empty');
  return guess;
}

const modelLine = (page) => page.locator('#model-line').textContent();
const cachedUrls = (page) => page.evaluate(async () => (await (await caches.open('infill-models-v1')).keys()).map((r) => r.url));

await test('a model from a Hub repository (?hub=./hub) downloads with a moving progress bar, then completes a line', async (page) => {
  server.hub.bytesPerSecond = 30e6; // about 3 s for 98 MB: slow enough to watch the bar move
  try {
    await page.goto(base + HUB);
    await ready(page);
    await page.evaluate(() => {
      window.seen = [];
      const bar = document.querySelector('[data-testid=progress]');
      const text = document.getElementById('progress-text');
      new MutationObserver(() => window.seen.push({ value: bar.value, max: bar.max, text: text.textContent }))
        .observe(text, { childList: true, characterData: true, subtree: true });
    });
    const mark = server.requests.length;
    await loadCustom(page, 'test/tiny', FILE);
    assert.equal(await page.getByTestId('status').textContent(), 'loading');
    await ready(page);
    assert.equal(ggufRequests(mark).map((r) => r.path).join(), hubPath('test/tiny'));

    const seen = await page.evaluate(() => window.seen);
    const values = [...new Set(seen.map((s) => s.value))];
    assert.ok(values.length >= 5, `the bar moved through only ${values.length} values`);
    assert.deepEqual(values, [...values].sort((a, b) => a - b), 'the bar went backwards');
    assert.ok(seen.some((s) => s.text.includes(`MB of ${MODEL_MB}`)), 'no "x MB of 98.4 MB"');
    assert.ok(seen.some((s) => /MB\/s/.test(s.text) && /left/.test(s.text)), 'no speed and time left');

    assert.match(await modelLine(page), /SmolLM2-135M-Instruct\.Q4_1\.gguf \(test\/tiny\) is loaded/);
    assert.ok(page.url().includes(modelHash(`test/tiny/${FILE}`).slice(1)), `the link does not name the model: ${page.url()}`);
    await completeOnce(page);
  } finally {
    server.hub.bytesPerSecond = 0;
  }
});

await test('a missing Hub file gives a visible error naming its URL; the page stays usable and the default model loads after it', async (page) => {
  await page.goto(base + HUB + modelHash('nobody/missing/nothing.gguf'));
  assert.equal(await waitStatus(page, ['ready', 'error'], 60_000), 'error');
  const error = page.getByTestId('error');
  assert.ok(await error.isVisible(), 'no visible error');
  const text = await error.textContent();
  assert.ok(text.includes(`${ORIGIN}${hubPath('nobody/missing', 'nothing.gguf')}`), `the error does not name the URL: ${text}`);
  assert.match(text, /404/);
  assert.ok(await page.locator('#retry').isVisible(), 'no retry button');

  // The default model, chosen from the catalog with the keyboard.
  await page.locator('#models > summary').focus();
  await page.keyboard.press('Enter');
  await page.getByTestId('model-option-smollm2-135m').focus();
  await page.keyboard.press('Space');
  await page.getByTestId('model-load').focus();
  await page.keyboard.press('Enter');
  await ready(page);
  assert.ok(await error.isHidden(), 'the old error is still shown');
  assert.ok(page.url().includes('model=smollm2-135m'), page.url());

  // Another missing file while a model is loaded: the error names it, and the loaded model stays in use.
  await loadCustom(page, 'nobody/missing', 'other.gguf');
  await error.waitFor({ state: 'visible', timeout: 30_000 });
  assert.ok((await error.textContent()).includes(`${ORIGIN}${hubPath('nobody/missing', 'other.gguf')}`));
  assert.equal(await waitStatus(page, ['ready'], 30_000), 'ready');
  assert.match(await page.locator('#status-label').textContent(), /Still using SmolLM2-135M-Instruct \(Q4_1\)/);
  assert.ok(page.url().includes('model=smollm2-135m'), `the link names the failed model: ${page.url()}`);
  await completeOnce(page);
});

await test('choosing another model while a download runs cancels the download and loads the new choice', async (page) => {
  server.hub.bytesPerSecond = 8e6; // about 12 s for the whole file
  try {
    await page.goto(base + HUB);
    await ready(page);
    await loadCustom(page, 'test/tiny', FILE);
    await page.waitForFunction(() => Number(document.querySelector('[data-testid=progress]').value) > 1e6);
    const started = Date.now();
    await page.getByTestId('model-option-smollm2-135m').check();
    await page.getByTestId('model-load').click();
    await ready(page);
    assert.ok(Date.now() - started < 8000, 'the new model waited for the old download');
    assert.match(await modelLine(page), /^SmolLM2-135M-Instruct \(Q4_1\) is loaded/);
    await page.waitForTimeout(500);
    assert.ok(await page.getByTestId('error').isHidden(), await page.getByTestId('error').textContent());
    assert.ok(!(await cachedUrls(page)).some((u) => u.includes('test/tiny')), 'the cancelled download was stored');
  } finally {
    server.hub.bytesPerSecond = 0;
  }
});

await test('Stop the download stops it: nothing is stored, the page says so without an error, and the model in use stays usable', async (page) => {
  server.hub.bytesPerSecond = 8e6; // about 12 s for the whole file
  try {
    await page.goto(base + HUB);
    await ready(page);
    assert.ok(await page.getByTestId('stop-download').isHidden(), 'a Stop button with nothing to stop');
    await loadCustom(page, 'test/tiny', FILE);
    await page.waitForFunction(() => Number(document.querySelector('[data-testid=progress]').value) > 1e6);
    const started = Date.now();
    await page.getByTestId('stop-download').click();
    assert.equal(await waitStatus(page, ['ready'], 8_000), 'ready');
    assert.ok(Date.now() - started < 5000, `stopping took ${Date.now() - started} ms`);
    assert.match(await page.locator('#status-label').textContent(), /Still using SmolLM2-135M-Instruct \(Q4_1\)/);
    assert.match(await modelLine(page), /^SmolLM2-135M-Instruct \(Q4_1\) is still loaded .*you stopped the download/);
    assert.ok(await page.getByTestId('error').isHidden(), await page.getByTestId('error').textContent());
    assert.ok(await page.getByTestId('progress').isHidden(), 'the download bar stayed');
    await page.waitForTimeout(1500); // no late bytes, no late store
    assert.ok(!(await cachedUrls(page)).some((u) => u.includes('test/tiny')), 'the stopped download was stored');
    await completeOnce(page);
  } finally {
    server.hub.bytesPerSecond = 0;
  }
});

await test('a reload loads the model from the browser storage without any network request for the .gguf', async (page) => {
  const path = hubPath('test/tiny');
  const first = server.requests.length;
  await page.goto(base + HUB + modelHash(`test/tiny/${FILE}`));
  await ready(page);
  assert.equal(ggufRequests(first, path).length, 1, 'the first visit did not download the model');
  const mark = server.requests.length;
  await page.reload();
  await ready(page);
  assert.deepEqual(ggufRequests(mark), [], 'the reload downloaded a model file');
  assert.match(await modelLine(page), /\(test\/tiny\) is loaded/);
});

await test('Stored models lists each downloaded model with its size and the total; Delete removes it', async (page) => {
  await page.goto(base + HUB);
  await ready(page);
  await loadCustom(page, 'test/tiny', FILE);
  await ready(page);
  const entries = page.locator('[data-testid=cache-list] .cache-entry');
  await page.waitForFunction(() => document.querySelectorAll('[data-testid=cache-list] .cache-entry').length === 2);
  const texts = await entries.allTextContents();
  assert.ok(texts.some((t) => t.includes('SmolLM2-135M-Instruct (Q4_1)') && t.includes(MODEL_MB)), texts.join(' | '));
  const tiny = texts.findIndex((t) => t.includes(`${FILE} (test/tiny)`) && t.includes(MODEL_MB) && t.includes('in use'));
  assert.ok(tiny >= 0, texts.join(' | '));
  assert.match(await page.getByTestId('cache-total').textContent(), /2 models · 196\.7 MB in total/);

  await page.getByTestId(`cache-delete-${tiny}`).click();
  await page.waitForFunction(() => document.querySelectorAll('[data-testid=cache-list] .cache-entry').length === 1);
  assert.ok(!(await entries.allTextContents()).join().includes('test/tiny'));
  assert.match(await page.getByTestId('cache-total').textContent(), /1 model · 98\.4 MB in total/);
  assert.match(await page.getByTestId('cache-total').textContent(), /stays loaded until this tab closes/);
  assert.ok(!(await cachedUrls(page)).some((u) => u.includes('test/tiny')), 'the file is still in the Cache API');

  // Really gone: the next visit downloads it again.
  const mark = server.requests.length;
  await page.reload();
  await ready(page);
  assert.equal(ggufRequests(mark, hubPath('test/tiny')).length, 1);
});

await test('a .gguf file chosen with the file input loads, and is neither stored nor put in the link', async (page) => {
  await page.goto(base);
  await ready(page);
  await openModels(page);
  await page.getByTestId('model-file').setInputFiles(join(localDir, 'my-own-model.gguf'));
  assert.equal(await page.getByTestId('status').textContent(), 'loading');
  await ready(page);
  assert.match(await modelLine(page), /^my-own-model\.gguf is loaded/);
  assert.ok(!(await cachedUrls(page)).some((u) => u.includes('my-own-model')));
  await page.waitForTimeout(400);
  assert.ok(!page.url().includes('model='), page.url());
  await completeOnce(page);
});

await test('a .gguf file dropped on the page loads; its HTML-looking name is shown as text and nothing runs', async (page) => {
  const dialogs = [];
  page.on('dialog', (d) => { dialogs.push(d.message()); d.dismiss().catch(() => {}); });
  await page.goto(base);
  await ready(page);
  await page.evaluate(async (name) => {
    const blob = await (await fetch('./models/SmolLM2-135M-Instruct.Q4_1.gguf')).blob();
    window.dropped = new DataTransfer();
    window.dropped.items.add(new File([blob], name));
    const fire = (type) => document.getElementById('code')
      .dispatchEvent(new DragEvent(type, { bubbles: true, cancelable: true, dataTransfer: window.dropped }));
    fire('dragenter');
    fire('dragover');
  }, XSS_NAME);
  assert.ok(await page.getByTestId('drop-overlay').isVisible(), 'no drop overlay while dragging');
  assert.match(await page.getByTestId('drop-overlay').textContent(), /Drop the model file/);
  await page.evaluate(() => document.getElementById('code')
    .dispatchEvent(new DragEvent('drop', { bubbles: true, cancelable: true, dataTransfer: window.dropped })));
  assert.ok(await page.getByTestId('drop-overlay').isHidden(), 'the overlay stayed');
  assert.equal(await page.getByTestId('code').inputValue().then((v) => v.includes('GGUF')), false, 'the file went into the editor');
  await ready(page);
  assert.ok((await modelLine(page)).startsWith(`${XSS_NAME} is loaded`), await modelLine(page));
  assert.equal(await page.locator('img').count(), 0, 'the file name became an element');
  assert.deepEqual(dialogs, []);
});

await test('a GGUF file cut in half fails inside the engine with its message, and the model in use stays usable', async (page) => {
  // The worker's own checks pass (a GGUF header, a plausible size); the engine finds the missing tensors.
  const whole = readFileSync(MODEL);
  const half = whole.subarray(0, Math.floor(whole.length / 2));
  await page.goto(base);
  await ready(page);
  await openModels(page);
  await page.getByTestId('model-file').setInputFiles({ name: 'half.gguf', mimeType: 'application/octet-stream', buffer: half });
  const error = page.getByTestId('error');
  await error.waitFor({ state: 'visible', timeout: 60_000 });
  const text = await error.textContent();
  assert.match(text, /the model file could not be read: tensor `[^`]+`: .*remaining in file/, text);
  assert.equal(await waitStatus(page, ['ready'], 30_000), 'ready');
  assert.match(await page.locator('#status-label').textContent(), /Still using SmolLM2-135M-Instruct \(Q4_1\)/);
  await completeOnce(page);
});

await test('a file that is not a model gives a clear error and the model in use stays usable', async (page) => {
  const dialogs = [];
  page.on('dialog', (d) => { dialogs.push(d.message()); d.dismiss().catch(() => {}); });
  const name = '"><svg onload=alert(2)>notes.gguf';
  await page.goto(base);
  await ready(page);
  await openModels(page);
  await page.getByTestId('model-file').setInputFiles({
    name, mimeType: 'application/octet-stream', buffer: Buffer.from('These are my notes, not a model.\n'.repeat(40)),
  });
  const error = page.getByTestId('error');
  await error.waitFor({ state: 'visible', timeout: 30_000 });
  assert.ok((await error.textContent()).includes(`\`${name}\` is not a GGUF file`), await error.textContent());
  assert.equal(await waitStatus(page, ['ready'], 30_000), 'ready');
  assert.match(await page.locator('#status-label').textContent(), /Still using SmolLM2-135M-Instruct \(Q4_1\)/);
  assert.equal(await page.locator('svg, img').count(), 0, 'the file name became an element');
  await completeOnce(page);
  assert.deepEqual(dialogs, []);
});

await test('the catalog lists four models, tiny_starcoder_py among the loadable ones; catalog entries use the Hub layout', async (page) => {
  await page.goto(base + HUB);
  await ready(page);
  await openModels(page);
  const options = page.locator('[data-testid=model-select] .model-option');
  assert.equal(await options.count(), 4);
  const texts = await options.allTextContents();
  for (const [name, size, fim] of [
    ['SmolLM2-135M-Instruct (Q4_1)', '98.4 MB', 'not trained for fill-in-the-middle: sees only the code above'],
    ['SmolLM2-360M-Instruct (Q8_0)', 'about 386 MB', 'not trained for fill-in-the-middle'],
    ['Qwen2.5-Coder-0.5B (Q8_0, FIM)', 'about 531 MB', 'trained for fill-in-the-middle: sees the code above and below'],
    ['bigcode/tiny_starcoder_py', 'about 657 MB', 'trained for fill-in-the-middle: sees the code above and below'],
  ]) {
    assert.ok(texts.some((t) => t.includes(name) && t.includes(size) && t.includes(fim)), `${name}: ${texts.join(' | ')}`);
  }
  assert.ok(!texts.join().includes('coming soon'), texts.join(' | '));
  assert.ok(await page.getByTestId('model-option-tiny-starcoder-py').isEnabled());

  // A catalog model from the Hub is fetched from {hub}/{repo}/resolve/main/{file} (absent here: a 404).
  await page.getByTestId('model-option-smollm2-360m').check();
  assert.match(await page.locator('#catalog-hint').textContent(), /Downloads about 386 MB from Hugging Face/);
  await page.getByTestId('model-load').click();
  const error = page.getByTestId('error');
  await error.waitFor({ state: 'visible' });
  await page.waitForFunction(() => /404/.test(document.getElementById('error-text').textContent));
  assert.ok((await error.textContent()).includes(
    `${ORIGIN}/hub/HuggingFaceTB/SmolLM2-360M-Instruct-GGUF/resolve/main/smollm2-360m-instruct-q8_0.gguf`));
  assert.equal(await waitStatus(page, ['ready'], 30_000), 'ready');

  // tiny_starcoder_py asks for its config.json first, from the same layout (absent here too: the error names it).
  const mark = server.requests.length;
  await page.getByTestId('model-option-tiny-starcoder-py').check();
  assert.match(await page.locator('#catalog-hint').textContent(), /Downloads about 657 MB from Hugging Face/);
  await page.getByTestId('model-load').click();
  await page.waitForFunction(() => /config\.json/.test(document.getElementById('error-text').textContent));
  const text = await error.textContent();
  assert.ok(text.includes(`${ORIGIN}/hub/bigcode/tiny_starcoder_py/resolve/main/config.json`), text);
  assert.match(text, /The model's config\.json could not be downloaded: the server answered 404/);
  assert.deepEqual(server.requests.slice(mark).map((r) => r.path), ['/hub/bigcode/tiny_starcoder_py/resolve/main/config.json']);
  assert.equal(await waitStatus(page, ['ready'], 30_000), 'ready');
  assert.match(await page.locator('#status-label').textContent(), /Still using SmolLM2-135M-Instruct \(Q4_1\)/);
});

/** The prompt the CLI builds for SAMPLE with line 6 hidden, on the tiny GPT-BigCode fixture. */
function cliBigcodePrompt() {
  const file = join(OUT, 'bigcode-sample.py');
  writeFileSync(file, SAMPLE);
  const out = JSON.parse(native(['complete', '--model', BIGCODE, '--file', file, '--line', '6', '--beams', '1', '--json']));
  assert.equal(out.model.architecture, 'gpt_bigcode');
  return out.prompt;
}

/** Checks the prompt panel after a completion on the tiny GPT-BigCode model: StarCoder FIM, as the CLI builds it. */
async function assertStarcoderPrompt(page) {
  const prompt = await page.locator('#prompt').textContent();
  assert.ok(prompt.startsWith('<fim_prefix>def average(values):'), prompt);
  assert.ok(prompt.endsWith('<fim_middle>'), prompt);
  assert.ok(!prompt.includes('return total / len(values)'), `the hidden line is in the prompt: ${prompt}`);
  assert.deepEqual(await page.locator('#prompt .special-token').allTextContents(), ['<fim_prefix>', '<fim_suffix>', '<fim_middle>']);
  assert.equal(prompt, cliBigcodePrompt(), 'the page and the CLI build different prompts');
}

const hubRequests = (since, repo) => server.requests.slice(since).filter((r) => r.path.startsWith(`/hub/${repo}/`)).map((r) => r.path);

await test('a safetensors model from a Hub repository loads its three files with progress, completes with the StarCoder FIM prompt, and is stored as one model', async (page) => {
  server.hub.bytesPerSecond = 400e3; // about 1 s for the weights: slow enough to see each file's progress
  try {
    await page.goto(base + HUB);
    await ready(page);
    await page.evaluate(() => {
      window.seen = [];
      const text = document.getElementById('progress-text');
      new MutationObserver(() => window.seen.push(text.textContent))
        .observe(text, { childList: true, characterData: true, subtree: true });
    });
    const mark = server.requests.length;
    await loadCustom(page, 'test/bigcode-tiny', 'model.safetensors');
    await ready(page);
    assert.deepEqual(hubRequests(mark, 'test/bigcode-tiny'), ['config.json', 'tokenizer.json', 'model.safetensors']
      .map((f) => hubPath('test/bigcode-tiny', f)));
    const seen = await page.evaluate(() => window.seen);
    for (const note of ['config.json (file 1 of 3)', 'tokenizer.json (file 2 of 3)', 'the weights (file 3 of 3)']) {
      assert.ok(seen.some((t) => t.includes(note)), `no progress for ${note}: ${seen.slice(-8).join(' | ')}`);
    }
    assert.ok(seen.some((t) => /0\.[1-3] MB of 0\.4 MB/.test(t)), `the weights' bar did not move: ${seen.slice(-8).join(' | ')}`);
  } finally {
    server.hub.bytesPerSecond = 0;
  }
  const line = await modelLine(page);
  assert.match(line, /^model\.safetensors \(test\/bigcode-tiny\) is loaded/);
  assert.match(line, /gpt_bigcode architecture · 512-token vocabulary/);
  assert.ok(page.url().includes(modelHash('test/bigcode-tiny/model.safetensors').slice(1)), page.url());
  await completeOnce(page);
  await assertStarcoderPrompt(page);

  // Stored: the three files in the Cache API, listed as one model with their total size.
  await openModels(page);
  await page.waitForFunction(() => document.querySelectorAll('[data-testid=cache-list] .cache-entry').length === 2);
  const urls = await cachedUrls(page);
  for (const f of BIGCODE_FILES) assert.ok(urls.includes(ORIGIN + hubPath('test/bigcode-tiny', f)), `${f} is not stored: ${urls}`);
  const texts = await page.locator('[data-testid=cache-list] .cache-entry').allTextContents();
  const entry = texts.findIndex((t) => t.includes('model.safetensors (test/bigcode-tiny)') && t.includes('0.4 MB') && t.includes('in use'));
  assert.ok(entry >= 0, texts.join(' | '));
  assert.match(await page.getByTestId('cache-total').textContent(), /2 models · 98\.8 MB in total/);

  // A reload downloads nothing.
  const again = server.requests.length;
  await page.reload();
  await ready(page);
  assert.deepEqual(hubRequests(again, 'test/bigcode-tiny'), []);
  assert.match(await modelLine(page), /^model\.safetensors \(test\/bigcode-tiny\) is loaded/);

  // Delete removes all three files.
  await openModels(page);
  await page.waitForFunction(() => document.querySelectorAll('[data-testid=cache-list] .cache-entry').length === 2);
  const index = (await page.locator('[data-testid=cache-list] .cache-entry').allTextContents())
    .findIndex((t) => t.includes('test/bigcode-tiny'));
  await page.getByTestId(`cache-delete-${index}`).click();
  await page.waitForFunction(() => document.querySelectorAll('[data-testid=cache-list] .cache-entry').length === 1);
  assert.ok(!(await cachedUrls(page)).some((u) => u.includes('bigcode-tiny')), 'a file of the deleted model is still stored');
});

/** Drops `names` (files of the tiny GPT-BigCode model, fetched from the test hub) on the page. */
async function dropBigcodeFiles(page, names) {
  await page.evaluate(async (list) => {
    const dt = new DataTransfer();
    for (const name of list) {
      const blob = await (await fetch(`./hub/test/bigcode-tiny/resolve/main/${name}`)).blob();
      dt.items.add(new File([blob], name));
    }
    document.getElementById('code')
      .dispatchEvent(new DragEvent('drop', { bubbles: true, cancelable: true, dataTransfer: dt }));
  }, names);
}

await test('a safetensors model dropped as its three files loads, completes with the StarCoder FIM prompt, and is not stored', async (page) => {
  await page.goto(base);
  await ready(page);
  await dropBigcodeFiles(page, ['tokenizer.json', 'model.safetensors', 'config.json']);
  await ready(page);
  assert.match(await modelLine(page), /^model\.safetensors is loaded.*gpt_bigcode architecture/);
  await completeOnce(page);
  await assertStarcoderPrompt(page);
  assert.ok(!(await cachedUrls(page)).some((u) => u.includes('safetensors') || u.endsWith('.json')));
  await page.waitForTimeout(400);
  assert.ok(!page.url().includes('model='), page.url());
});

await test('a safetensors model chosen with the file input loads from its three files', async (page) => {
  await page.goto(base);
  await ready(page);
  await openModels(page);
  await page.getByTestId('model-file').setInputFiles(BIGCODE_FILES.map((f) => join(BIGCODE, f)));
  await ready(page);
  assert.match(await modelLine(page), /^model\.safetensors is loaded.*gpt_bigcode architecture/);
  await completeOnce(page);
  await assertStarcoderPrompt(page);
});

await test('a safetensors model without its config.json says so, locally and on the Hub; the model in use stays usable', async (page) => {
  await page.goto(base + HUB);
  await ready(page);
  const error = page.getByTestId('error');
  await dropBigcodeFiles(page, ['model.safetensors', 'tokenizer.json']);
  await error.waitFor({ state: 'visible', timeout: 10_000 });
  assert.match(await error.textContent(), /A safetensors model needs three files chosen together: model\.safetensors, config\.json and tokenizer\.json\. Missing: config\.json\./);
  assert.equal(await page.getByTestId('status').textContent(), 'ready');
  assert.match(await modelLine(page), /^SmolLM2-135M-Instruct \(Q4_1\) is loaded/);

  // Only the weights, with the file input.
  await openModels(page);
  await page.getByTestId('model-file').setInputFiles(join(BIGCODE, 'model.safetensors'));
  await page.waitForFunction(() => /Missing: config\.json and tokenizer\.json/.test(document.getElementById('error-text').textContent));

  // A Hub repository without config.json: the download error names the file and its address.
  await loadCustom(page, 'test/bigcode-noconfig', 'model.safetensors');
  await page.waitForFunction(() => /config\.json could not be downloaded/.test(document.getElementById('error-text').textContent));
  const text = await error.textContent();
  assert.ok(text.includes(`${ORIGIN}${hubPath('test/bigcode-noconfig', 'config.json')}`), text);
  assert.match(text, /404.*a safetensors model needs its config\.json next to the weights/);
  assert.equal(await waitStatus(page, ['ready'], 30_000), 'ready');
  assert.match(await page.locator('#status-label').textContent(), /Still using SmolLM2-135M-Instruct \(Q4_1\)/);

  // config.json typed as the file name: the page asks for the weights instead.
  await loadCustom(page, 'test/bigcode-tiny', 'config.json');
  assert.match(await page.getByTestId('custom-msg').textContent(), /type the weights file/);
  await completeOnce(page);
});

await test('a download cut off after 1 MB resumes with a Range request and the stored model is intact', async (page) => {
  const path = hubPath('flaky/tiny');
  server.hub.dropOnce.add(path);
  await page.addInitScript(() => {
    window.notes = [];
    document.addEventListener('DOMContentLoaded', () => {
      const text = document.getElementById('progress-text');
      new MutationObserver(() => window.notes.push(text.textContent))
        .observe(text, { childList: true, characterData: true, subtree: true });
    });
  });
  const mark = server.requests.length;
  await page.goto(base + HUB + modelHash(`flaky/tiny/${FILE}`));
  await ready(page);
  const requests = ggufRequests(mark, path);
  assert.equal(requests.length, 2, JSON.stringify(requests));
  assert.equal(requests[0].status, 200);
  assert.ok(requests[0].cut, 'the server did not cut the first answer');
  const resumedAt = Number(/^bytes=(\d+)-$/.exec(requests[1].range ?? '')?.[1]);
  assert.ok(resumedAt > 0 && resumedAt <= 1 << 20, `second request: ${JSON.stringify(requests[1])}`);
  assert.equal(requests[1].status, 206);
  const notes = await page.evaluate(() => window.notes);
  assert.ok(notes.some((n) => /connection dropped at .* resuming where it stopped \(try 1 of 3\)/.test(n)), notes.slice(-5).join(' | '));

  const want = createHash('sha256').update(readFileSync(MODEL)).digest('hex');
  const got = await page.evaluate(async (url) => {
    const response = await (await caches.open('infill-models-v1')).match(url);
    const digest = await crypto.subtle.digest('SHA-256', await response.arrayBuffer());
    return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, '0')).join('');
  }, ORIGIN + path);
  assert.equal(got, want, 'the resumed file differs from the original');
});

await test('a full storage quota is reported clearly, and the model still works', async (page, context) => {
  const cdp = await context.newCDPSession(page);
  await cdp.send('Storage.overrideQuotaForOrigin', { origin: ORIGIN, quotaSize: 20e6 });
  await page.goto(base);
  await ready(page);
  const error = page.getByTestId('error');
  await error.waitFor({ state: 'visible', timeout: 10_000 });
  assert.match(await error.textContent(), /could not be stored for next time: The browser has no storage space left/);
  assert.equal(await page.getByTestId('status').textContent(), 'ready');
  await openModels(page);
  await page.waitForFunction(() => /No models stored yet/.test(document.querySelector('[data-testid=cache-list]').textContent));
});

await test('the Models panel fits a 390 px phone screen and a desktop one (screenshots in out/)', async (page) => {
  for (const [width, height, file] of [[390, 844, 'models-phone.png'], [1280, 900, 'models-desktop.png']]) {
    await page.setViewportSize({ width, height });
    if (page.url() === 'about:blank') {
      await page.goto(base);
      await ready(page);
      await openModels(page);
    }
    assert.ok(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth), `overflows at ${width} px`);
    await page.locator('.model-bar').screenshot({ path: join(OUT, file) });
  }
});
