// Browser tests of the playground: the real page, the real default model, Debian's headless Chromium.
// Each test does what a person does and checks what a person would check.
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { MODEL, OUT, ROOT, base, native, openWithCode, test, waitStatus, writeJsonl } from './harness.mjs';

const SAMPLE = [
  'def average(values):',
  '    """Return the arithmetic mean of a list of numbers."""',
  '    total = 0',
  '    for v in values:',
  '        total += v',
  '    return total / len(values)',
  '',
].join('\n');

await test('the wasm metrics equal sacrebleu and jiwer on every reference vector', async (page) => {
  await page.goto(base);
  const vectors = readFileSync(join(ROOT, 'tests', 'fixtures', 'metric_vectors.jsonl'), 'utf8')
    .split('\n').filter(Boolean).map((l) => JSON.parse(l));
  const pairs = vectors.filter((v) => v.kind === 'pair');
  const corpora = vectors.filter((v) => v.kind === 'corpus');
  // A worker of its own, started the way the page starts one, speaking the same protocol.
  const answer = await page.evaluate(async ({ pairs, corpora }) => {
    const worker = new Worker('./worker.js');
    const event = await new Promise((resolve) => {
      worker.onmessage = (e) => {
        if (e.data.kind === 'ready') {
          worker.postMessage({ kind: 'score', id: 1, pairs, corpora });
        } else if (e.data.kind === 'scored' || e.data.kind === 'error') {
          resolve(e.data);
        }
      };
    });
    worker.terminate();
    return event;
  }, {
    pairs: pairs.map((v) => ({ hypothesis: v.hypothesis, reference: v.reference })),
    corpora: corpora.map((v) => ({ hypotheses: v.hypotheses, references: v.references })),
  });
  assert.equal(answer.kind, 'scored', answer.message);
  assert.equal(answer.scores.length, pairs.length);
  let worst = 0;
  pairs.forEach((v, i) => {
    for (const key of ['exact', 'exact_stripped', 'chrf', 'chrf_pp', 'bleu', 'wer', 'iou', 'edit_sim']) {
      const diff = Math.abs(answer.scores[i][key] - v[key]);
      worst = Math.max(worst, diff);
      assert.ok(diff <= 1e-9, `pair ${v.id} ${key}: wasm ${answer.scores[i][key]}, reference ${v[key]}`);
    }
  });
  corpora.forEach((v, i) => {
    for (const key of ['corpus_chrf', 'corpus_bleu']) {
      const diff = Math.abs(answer.corpora[i][key] - v[key]);
      worst = Math.max(worst, diff);
      assert.ok(diff <= 1e-9, `corpus ${v.id} ${key}: wasm ${answer.corpora[i][key]}, reference ${v[key]}`);
    }
  });
  console.log(`  ${pairs.length} pairs and ${corpora.length} corpora, largest difference ${worst.toExponential(2)}`);
});

await test('the playground completes a masked line like the CLI, and scores it like the CLI', async (page) => {
  await openWithCode(page, SAMPLE);
  // The default settings (5 beams, single line, suffix reranking). The wasm build computes the same bits as
  // the native one (src/kernels.rs), so even the rerank's close call on this sample (about 0.02 between
  // the two best beams) comes out the same.
  await page.getByTestId('line-6').click();
  await page.getByTestId('complete').click();
  await waitStatus(page, ['generating', 'done'], 30_000);
  // The main thread stays free while the worker decodes.
  const t0 = Date.now();
  await page.evaluate(() => 1);
  const roundTrip = Date.now() - t0;
  assert.ok(roundTrip < 250, `main thread blocked for ${roundTrip} ms`);
  assert.equal(await waitStatus(page, ['done', 'error'], 180_000), 'done');
  await page.screenshot({ path: join(OUT, 'playground-done.png'), fullPage: true });

  const completion = await page.getByTestId('completion').textContent();
  const target = await page.getByTestId('target').textContent();
  assert.equal(target, '    return total / len(values)');
  assert.ok(completion.trim().length > 0, 'the completion is empty');
  assert.ok(!/[\r\n]/.test(completion), `the completion has a line break: ${JSON.stringify(completion)}`);

  // Same completion as the CLI with the same settings (5 beams, single line).
  const file = join(OUT, 'sample.py');
  writeFileSync(file, SAMPLE);
  const cli = JSON.parse(native(['complete', '--model', MODEL, '--file', file, '--line', '6', '--json']));
  assert.equal(completion, cli.result.completion, 'the page and the CLI disagree');
  // The cosine of the model's own hidden states too: same model, same bits.
  const cosine = Number(await page.getByTestId('metric-cosine').getAttribute('data-value'));
  assert.equal(cosine, cli.result.cosine, `cosine: page ${cosine}, CLI ${cli.result.cosine}`);

  // The scores shown equal those computed natively for the same strings.
  const scored = JSON.parse(native(['score', '--input', writeJsonl({ hypothesis: completion, reference: target })]));
  for (const [metric, key] of [['exact', 'exact'], ['chrf', 'chrf'], ['bleu', 'bleu'], ['wer', 'wer'], ['iou', 'iou'], ['edit_sim', 'edit_sim']]) {
    const el = page.getByTestId(`metric-${metric}`);
    const shown = Number(await el.getAttribute('data-value') ?? await el.textContent());
    assert.ok(Math.abs(shown - scored[key]) < 1e-9, `${metric}: page ${shown}, native ${scored[key]}`);
  }
});

await test('cancel stops a long multi-line run within one step and the page stays usable', async (page) => {
  await openWithCode(page, SAMPLE);
  await page.locator('[data-testid=mode], select[name=mode]').first().selectOption('multi').catch(() => {});
  await page.getByTestId('line-3').click();
  await page.getByTestId('complete').click();
  await waitStatus(page, ['generating'], 30_000);
  await page.waitForTimeout(500);
  const t0 = Date.now();
  await page.getByTestId('cancel').click();
  const after = await waitStatus(page, ['ready', 'done', 'error'], 10_000);
  assert.equal(after, 'ready', `after cancel the status is ${after}`);
  assert.ok(Date.now() - t0 < 3000, 'cancel took more than 3 s');
  // Still usable: the next completion works.
  await page.getByTestId('line-6').click();
  await page.getByTestId('complete').click();
  assert.equal(await waitStatus(page, ['done', 'error'], 180_000), 'done');
});

// A file of a size people paste: about 1,100 tokens, several seconds of reading in the page.
const MEDIUM = ['import math', '', '', 'def summarize(rows, weights=None):', '    """Weighted statistics of a table of numbers."""',
  ...Array.from({ length: 50 }, (_, i) => `    column_${i} = [row[${i % 7}] * ${i + 1} for row in rows]`),
  '    total = sum(sum(c) for c in (column_0, column_1, column_2))', '    return math.sqrt(total)', ''].join('\n');

/** The read-ahead note's figures, once it says it is done: [read, total]. */
async function readAheadDone(page) {
  await page.waitForFunction(() => document.querySelector('[data-testid=read-ahead]')?.dataset.done === 'true', null, { timeout: 120_000 });
  const note = await page.getByTestId('read-ahead').textContent();
  const m = note.match(/^The model has read ([\d,]+) of this code's ([\d,]+) tokens already, so its guesses will start sooner\.$/);
  assert.ok(m, note);
  return m.slice(1).map((x) => Number(x.replaceAll(',', '')));
}

await test('the page reads pasted code while a line is chosen; the line picked continues from it, and equals the CLI', async (page) => {
  await openWithCode(page, MEDIUM);
  await page.locator('#set-beams').fill('2');
  await page.locator('#set-max').fill('16');
  // Reading as soon as the code is in: the note says how far it got, then that it is done: all of the last
  // line's prompt but its last piece (src/engine.rs PROMPT_CHUNK), which would start a search.
  await page.waitForFunction(() => /^Reading your code while you choose a line: [\d,]+ of [\d,]+ tokens\.$/.test(document.querySelector('[data-testid=read-ahead]')?.textContent ?? ''), null, { timeout: 30_000 });
  const [read, total] = await readAheadDone(page);
  assert.ok(total > 900 && total - read <= 128 && read > 0, `read ${read} of ${total}`);
  assert.equal(await waitStatus(page, ['ready'], 1_000), 'ready', 'reading ahead changed the page\'s status');

  // A line near the end: its whole prompt but the last token was read ahead.
  const line = 50;
  await page.getByTestId(`line-${line}`).click();
  await page.getByTestId('complete').click();
  assert.equal(await waitStatus(page, ['done', 'error'], 120_000), 'done');
  const help = await page.getByTestId('stat-prompt_tokens').locator('xpath=following-sibling::p').textContent();
  const prompt = Number((await page.getByTestId('stat-prompt_tokens').textContent()).match(/^([\d,]+) tokens$/)[1].replaceAll(',', ''));
  assert.ok(help.endsWith(`The first ${(prompt - 1).toLocaleString('en-US')} had been read already, for an earlier run on this code, so 1 was new.`), help);
  const first = await page.getByTestId('stat-first_token_ms').textContent();
  console.log(`  read ahead ${read} of ${total} tokens; line ${line} (${prompt} tokens): first token after ${first}`);
  const completion = await page.getByTestId('completion').textContent();
  const file = join(OUT, 'medium.py');
  writeFileSync(file, MEDIUM);
  const cli = JSON.parse(native(['complete', '--model', MODEL, '--file', file, '--line', String(line), '--beams', '2', '--max-new-tokens', '16', '--json']));
  assert.equal(completion, cli.result.completion, 'after reading ahead, the page and the CLI disagree');

  // An edit at the top starts the reading again from there; Complete while it reads is not held up by it (the
  // read-ahead gives way) and gives the CLI's answer.
  const edited = `# edited\n${MEDIUM}`;
  await page.getByTestId('code').fill(edited);
  await page.waitForFunction(() => document.querySelector('[data-testid=read-ahead]')?.dataset.done === 'false', null, { timeout: 30_000 });
  await page.getByTestId('line-21').click();
  await page.getByTestId('complete').click();
  assert.equal(await waitStatus(page, ['done', 'error'], 120_000), 'done');
  writeFileSync(file, edited);
  const cli21 = JSON.parse(native(['complete', '--model', MODEL, '--file', file, '--line', '21', '--beams', '2', '--max-new-tokens', '16', '--json']));
  assert.equal(await page.getByTestId('completion').textContent(), cli21.result.completion);
  // After the run the reading goes on to the end of the code again.
  const [again, total2] = await readAheadDone(page);
  assert.ok(total2 > total && total2 - again <= 128, `read ${again} of ${total2}`);
});

await test('Random masks a non-blank line other than the def line', async (page) => {
  await openWithCode(page, SAMPLE);
  for (let i = 0; i < 10; i++) {
    await page.getByTestId('random').click();
    const masked = await page.locator('[data-testid^=line-].masked, [data-testid^=line-][aria-pressed=true], [data-testid^=line-][data-masked=true]').first().getAttribute('data-testid');
    const n = Number(masked.slice(5));
    const text = SAMPLE.split('\n')[n - 1];
    assert.ok(n !== 1 && text.trim() !== '', `Random chose line ${n}: ${JSON.stringify(text)}`);
  }
});


await test('every metric links to its precise definition, which opens offline', async (page) => {
  await page.goto(base);
  const keys = ['exact', 'chrf', 'bleu', 'wer', 'iou', 'edit_sim', 'cosine'];
  for (const key of keys) {
    const link = page.locator(`a[href$="docs/metrics.html#${key}"]`).first();
    assert.equal(await link.count(), 1, `no definition link for ${key}`);
  }
  const definitions = await page.request.get(`${base}docs/metrics.html`);
  assert.equal(definitions.status(), 200);
  const html = await definitions.text();
  for (const key of keys) assert.ok(html.includes(`id="${key}"`), `the definitions page has no #${key}`);
  await page.goto(`${base}docs/metrics.html#chrf`);
  assert.match(await page.locator('h2:has-text("chrF")').first().textContent(), /chrF/);
});

await test('sampling with a seed, function context and a share link: the page equals the CLI and restores', async (page) => {
  await openWithCode(page, SAMPLE);
  await page.getByTestId('advanced').locator('summary').click();
  await page.getByTestId('set-sample').selectOption('1');
  await page.getByTestId('set-seed').fill('7');
  await page.getByTestId('set-temperature').fill('0.7');
  await page.getByTestId('set-context').selectOption('function');
  await page.getByTestId('set-seed').press('Tab');
  await page.getByTestId('line-4').click();
  await page.getByTestId('complete').click();
  assert.equal(await waitStatus(page, ['done', 'error'], 180_000), 'done');
  const completion = await page.getByTestId('completion').textContent();

  const file = join(OUT, 'sample_sampling.py');
  writeFileSync(file, SAMPLE);
  const cli = JSON.parse(native(['complete', '--model', MODEL, '--file', file, '--line', '4', '--json',
    '--sample', '--seed', '7', '--temperature', '0.7', '--top-p', '0.95', '--context', 'function']));
  assert.equal(completion, cli.result.completion, 'the page and the CLI disagree on a seeded sample');

  // The link carries the settings: a fresh page opened from it shows them and gives the same sample.
  await page.waitForTimeout(500);
  const url = page.url();
  assert.match(url, /sample=1/);
  assert.match(url, /seed=7/);
  const again = await page.context().newPage();
  await again.goto(url);
  assert.equal(await waitStatus(again, ['ready', 'error'], 180_000), 'ready');
  assert.equal(await again.getByTestId('set-sample').inputValue(), '1');
  assert.equal(await again.getByTestId('set-seed').inputValue(), '7');
  assert.equal(await again.getByTestId('set-context').inputValue(), 'function');
  await again.getByTestId('complete').click();
  assert.equal(await waitStatus(again, ['done', 'error'], 180_000), 'done');
  assert.equal(await again.getByTestId('completion').textContent(), completion, 'the same seed gave another sample');
});
