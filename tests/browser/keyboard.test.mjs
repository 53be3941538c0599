// The playground with the keyboard alone, and what it shows after a run: the shortcuts for random, complete
// and cancel, choosing a line with the arrow keys, the exact prompt with its special tokens, the letter-by-
// letter diff, and a plain-language explanation for every metric.
import assert from 'node:assert/strict';
import { openWithCode, test, waitStatus } from './harness.mjs';

const SAMPLE = [
  'def gcd(a, b):',
  '    """Greatest common divisor of a and b."""',
  '    while b:',
  '        a, b = b, a % b',
  '    return a',
  '',
].join('\n');

const masked = (page) => page.evaluate(() => Number(document.querySelector('.ln-row[data-masked=true]')?.dataset.line ?? 0));

await test('keyboard alone: arrows and Enter pick a line, Ctrl+Enter completes, Escape cancels, Alt+R picks a random line', async (page) => {
  await openWithCode(page, SAMPLE);
  // Tab into the line list, move with the arrows, hide a line with Enter.
  await page.getByTestId('line-1').focus();
  await page.keyboard.press('ArrowDown');
  await page.keyboard.press('ArrowDown');
  await page.keyboard.press('ArrowDown');
  await page.keyboard.press('Enter');
  assert.equal(await masked(page), 4, 'Enter on the focused line 4 did not hide it');

  await page.keyboard.press('Control+Enter');
  assert.equal(await waitStatus(page, ['generating', 'done'], 30_000), 'generating');
  await page.keyboard.press('Escape');
  assert.equal(await waitStatus(page, ['ready', 'done', 'error'], 10_000), 'ready', 'Escape did not cancel the run');

  // Alt+R: a random line, never the def line or a blank one, over a few presses.
  const seen = new Set();
  for (let i = 0; i < 8; i++) {
    await page.keyboard.press('Alt+r');
    const n = await masked(page);
    assert.ok(n >= 2 && n <= 5, `Alt+R hid line ${n}`);
    seen.add(n);
  }
  assert.ok(seen.size >= 2, `Alt+R always picks line ${[...seen]}`);

  await page.getByTestId('line-5').focus();
  await page.keyboard.press('Enter');
  await page.keyboard.press('Control+Enter');
  assert.equal(await waitStatus(page, ['done', 'error'], 180_000), 'done');

  // The exact prompt, special tokens visible: this model has none, so the prompt is the code above the hole.
  await page.locator('#prompt-details > summary').click();
  const prompt = await page.locator('#prompt').textContent();
  assert.ok(prompt.startsWith('def gcd(a, b):') && prompt.includes('a, b = b, a % b'), `prompt: ${JSON.stringify(prompt)}`);
  assert.ok(!prompt.includes('return a'), 'the hidden line is in the prompt');

  // The diff holds the target's and the completion's characters, marked.
  const completion = await page.getByTestId('completion').textContent();
  const target = await page.getByTestId('target').textContent();
  assert.equal(target, '    return a');
  const diff = await page.locator('#diff').evaluate((d) => ({
    text: d.textContent,
    marked: d.querySelectorAll('ins, del, .diff-ins, .diff-del, [class*=missed], [class*=extra]').length,
  }));
  for (const c of target.trim()) assert.ok(diff.text.includes(c), `the diff lacks ${c}: ${diff.text}`);
  if (completion !== target) assert.ok(diff.marked > 0, `completion ${JSON.stringify(completion)} differs, but the diff marks nothing`);

  // Every metric has its number and a sentence a newcomer can read.
  for (const id of ['exact', 'chrf', 'bleu', 'wer', 'iou', 'edit_sim', 'cosine']) {
    const card = page.getByTestId(`metric-${id}`);
    assert.ok(Number.isFinite(Number(await card.getAttribute('data-value') ?? await card.textContent())), `metric-${id} has no number`);
  }
  const explanations = await page.locator('.metric-explain').allTextContents();
  assert.ok(explanations.length >= 7 && explanations.every((t) => t.split(' ').length >= 6), `explanations: ${explanations}`);
});
