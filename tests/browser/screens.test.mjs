// The page's main states, as a person sees them: loading, generating, done, error, and a phone-sized
// screen. Each test checks what the state must show, then saves a screenshot to out/screens/ (and to
// docs/screens/ with SCREENSHOTS_TO_DOCS=1, which is how the pictures in the README were made).
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { OUT, ROOT, base, openWithCode, test, waitStatus } from './harness.mjs';

const DIRS = [join(OUT, 'screens')];
if (process.env.SCREENSHOTS_TO_DOCS) DIRS.push(join(ROOT, 'docs', 'screens'));
DIRS.forEach((d) => mkdirSync(d, { recursive: true }));

async function shoot(page, name, fullPage = true) {
  for (const d of DIRS) await page.screenshot({ path: join(d, `${name}.png`), fullPage });
}

const SAMPLE = [
  'def median(values):',
  '    """Return the middle value of a list of numbers."""',
  '    ordered = sorted(values)',
  '    n = len(ordered)',
  '    mid = n // 2',
  '    if n % 2 == 1:',
  '        return ordered[mid]',
  '    return (ordered[mid - 1] + ordered[mid]) / 2',
  '',
].join('\n');

/** Text of the element with `testid`, or '' when absent. */
const text = (page, testid) => page.getByTestId(testid).first().textContent().catch(() => '');

await test('screens: loading shows download progress and the page explains itself', async (page) => {
  // Hold the model download halfway so the loading state can be seen.
  let release;
  const held = new Promise((r) => { release = r; });
  await page.route('**/*.gguf', async (route) => { await held; await route.continue(); });
  await page.goto(base);
  assert.equal(await waitStatus(page, ['loading'], 30_000), 'loading');
  await page.waitForTimeout(300);
  await shoot(page, 'loading');
  // A first-time visitor is told what the page does before anything runs.
  const body = await page.locator('body').innerText();
  assert.match(body, /hide|hidden|mask/i, 'the page does not say that a line gets hidden');
  release();
  assert.equal(await waitStatus(page, ['ready', 'error'], 180_000), 'ready');
});

await test('screens: generating shows the beams growing, done shows the answer beside the hidden line', async (page) => {
  await openWithCode(page, SAMPLE);
  await page.getByTestId('line-7').click();
  await page.getByTestId('complete').click();
  assert.equal(await waitStatus(page, ['generating'], 30_000), 'generating');
  await page.waitForFunction(() => (document.querySelector('[data-testid=beam-0]')?.textContent ?? '').trim().length > 0,
    null, { timeout: 60_000, polling: 50 });
  // While generating, the hidden line is still hidden.
  const hiddenWhileRunning = await text(page, 'target');
  assert.ok(!hiddenWhileRunning.includes('ordered[mid]'), `the target shows during the run: ${hiddenWhileRunning}`);
  await shoot(page, 'generating');
  assert.equal(await waitStatus(page, ['done', 'error'], 180_000), 'done');
  assert.equal(await text(page, 'target'), '        return ordered[mid]');
  assert.ok((await text(page, 'completion')).trim().length > 0, 'no completion shown');
  await shoot(page, 'done');
});

await test('screens: a model that cannot be downloaded gives a clear error and a usable page', async (page) => {
  await page.route('**/*.gguf', (route) => route.fulfill({ status: 404, body: 'Not Found' }));
  await page.goto(base);
  assert.equal(await waitStatus(page, ['error', 'ready'], 60_000), 'error');
  const body = await page.locator('body').innerText();
  assert.match(body, /404|not found/i, 'the error does not say what went wrong');
  await page.waitForTimeout(200);
  await shoot(page, 'error');
  // The editor still works.
  await page.getByTestId('code').fill('x = 1\n');
  assert.equal(await page.getByTestId('code').inputValue(), 'x = 1\n');
});

await test('screens: on a 390 px phone the done state fits the width', async (page) => {
  await openWithCode(page, SAMPLE);
  await page.getByTestId('line-5').click();
  await page.getByTestId('complete').click();
  assert.equal(await waitStatus(page, ['done', 'error'], 180_000), 'done');
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 0, `the page is ${overflow} px wider than the phone screen`);
  for (const id of ['complete', 'random', 'completion', 'target', 'metric-chrf']) {
    const box = await page.getByTestId(id).first().boundingBox();
    assert.ok(box && box.x >= 0 && box.x + box.width <= 391, `${id} is outside the screen: ${JSON.stringify(box)}`);
  }
  await shoot(page, 'phone', false);
  await page.getByTestId('completion').first().scrollIntoViewIfNeeded();
  await page.evaluate(() => window.scrollBy(0, -120));
  await shoot(page, 'phone-result', false);
}, { viewport: { width: 390, height: 844 } });
