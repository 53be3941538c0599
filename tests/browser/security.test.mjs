// Hostile input in the playground: pasted code carrying HTML/JS payloads is shown as text, never run.
import assert from 'node:assert/strict';
import { openWithCode, test, waitStatus } from './harness.mjs';

const PAYLOADS = [
  '<img src=x onerror="window.__pwned = 1">',
  '<script>window.__pwned = 2</script>',
  '"><svg onload="window.__pwned = 3">',
  "javascript:window.__pwned = 4",
];
const CODE = [
  'def render(name):',
  ...PAYLOADS.map((p, i) => `    s${i} = '${p.replace(/'/g, "\\'")}'`),
  '    return s0 + name',
  '',
].join('\n');

await test('pasted HTML and JS payloads are shown as text and never execute', async (page) => {
  const dialogs = [];
  page.on('dialog', (d) => { dialogs.push(d.message()); d.dismiss(); });
  await openWithCode(page, CODE);
  // Every payload line is visible, as text, in the line view.
  for (let n = 2; n <= 1 + PAYLOADS.length; n++) {
    const text = await page.getByTestId(`line-${n}`).textContent();
    assert.ok(text.includes(PAYLOADS[n - 2].slice(0, 12)), `line ${n} shows ${JSON.stringify(text)}`);
  }
  assert.equal(await page.locator('img[src=x], svg[onload], script:not([src])').count(), 0, 'payload elements were created');
  // Hide a payload line and complete: the prompt, beams, completion and target all stay text.
  await page.getByTestId('line-3').click();
  await page.getByTestId('complete').click();
  assert.equal(await waitStatus(page, ['done', 'error'], 180_000), 'done');
  assert.equal(await page.getByTestId('target').textContent(), `    s1 = '${PAYLOADS[1]}'`);
  assert.equal(await page.locator('img[src=x], svg[onload], script:not([src])').count(), 0, 'payload elements were created');
  assert.equal(await page.evaluate(() => window.__pwned), undefined, 'a payload ran');
  assert.deepEqual(dialogs, []);
  // The page forbids inline script by policy, too.
  const csp = await page.locator('meta[http-equiv="Content-Security-Policy"]').getAttribute('content');
  assert.match(csp, /script-src 'self'/);
  assert.doesNotMatch(csp, /unsafe-inline/);
});
