// DEV ONLY: a fake engine that speaks the worker protocol with canned beams, so the page can be checked
// without the wasm build. app.js uses it only when the URL has `?fake-worker`.
// Extra switches: `&fake-fim` (pretend the model has FIM tokens), `&fake-error=load|complete`.
/* eslint-env worker */
'use strict';

// The page passes its own query string as the worker's name.
const opts = new URLSearchParams((self.name || '').replace(/^\?/, ''));
const flag = (k) => opts.has(k);
let running = null;

function lineOf(code, line) {
  return code.split('\n')[line - 1] ?? '';
}

function load({ id, name }) {
  const total = 98362432;
  let loaded = 0;
  const t = setInterval(() => {
    loaded = Math.min(total, loaded + 6.5e6);
    postMessage({ kind: 'progress', id, loaded, total });
    if (loaded >= total) {
      clearInterval(t);
      if (flag('fake-error') && opts.get('fake-error') === 'load') {
        postMessage({ kind: 'error', id, message: 'HTTP 404 while fetching ./models/x.gguf <b>not html</b>' });
        return;
      }
      setTimeout(() => postMessage({
        kind: 'loaded', id,
        model: { name, architecture: 'llama', vocab_size: 49152, file_bytes: total, fim_format: flag('fake-fim') ? 'starcoder' : 'none' },
      }), 200);
    }
  }, 120);
}

function complete({ id, code, line, settings }) {
  const lines = code.split('\n');
  const target = lineOf(code, line);
  const prefix = lines.slice(0, line - 1).join('\n') + (line > 1 ? '\n' : '');
  const suffix = '\n' + lines.slice(line).join('\n');
  const prompt = flag('fake-fim') ? `<fim_prefix>${prefix}<fim_suffix>${suffix}<fim_middle>` : prefix;
  const promptTokens = Math.ceil(prompt.length / 3.5);
  postMessage({ kind: 'started', id, prompt, prompt_tokens: promptTokens });
  const indent = /^\s*/.exec(target)[0];
  const variants = [
    target.replace(/\bordered\b/, 'values'),
    target,
    `${indent}return None`,
    `${indent}pass`,
    `${indent}# TODO`,
    `${indent}raise NotImplementedError`,
    `${indent}print(values)`,
    `${indent}...`,
  ].slice(0, Math.max(1, settings.beams));
  const longest = Math.max(...variants.map((v) => v.length));
  let step = 0;
  const t0 = Date.now();
  running = { id, timer: setInterval(() => {
    step += 1;
    const chars = step * 3;
    const beams = variants.map((v, i) => ({
      text: v.slice(0, chars), score: -(0.35 * step + i * 0.8), finished: chars >= v.length,
    }));
    postMessage({ kind: 'beams', id, step, read: promptTokens, beams });
    if (flag('fake-error') && opts.get('fake-error') === 'complete' && step === 4) {
      clearInterval(running.timer); running = null;
      postMessage({ kind: 'error', id, message: 'Fake failure during decoding.' });
      return;
    }
    if (opts.get('fake-error') === 'fatal' && step === 4) {
      clearInterval(running.timer); running = null;
      postMessage({ kind: 'error', id, message: 'The engine crashed: RuntimeError: unreachable', fatal: true });
      return;
    }
    if (chars >= longest || step >= settings.max_new_tokens) {
      clearInterval(running.timer); running = null;
      const completion = variants[0];
      const same = completion === target;
      postMessage({ kind: 'done', id, result: {
        completion, target,
        beams: beams.map((b) => ({ ...b, score: b.score / step, finished: true })),
        scores: { exact: same ? 1 : 0, exact_stripped: same ? 1 : 0, chrf: same ? 100 : 71.4285, chrf_pp: same ? 100 : 66.1, bleu: same ? 100 : 42.7287, wer: same ? 0 : 0.333333, iou: same ? 1 : 0.6, edit_sim: same ? 1 : 0.8421 },
        cosine: same ? 1 : 0.9123,
        stats: { prompt_tokens: Math.ceil(prompt.length / 3.5), generated_tokens: step, first_token_ms: 183.2, total_ms: Date.now() - t0, tokens_per_second: 23.4 },
      } });
    }
  }, 110) };
}

self.onmessage = (e) => {
  const msg = e.data;
  if (msg.kind === 'load') load(msg);
  else if (msg.kind === 'complete') complete(msg);
  // No model to read with: the read-ahead ends at once, having read nothing.
  else if (msg.kind === 'read_ahead') postMessage({ kind: 'read_ahead', id: msg.id, read: 0, total: 0, done: true });
  else if (msg.kind === 'cancel' && running && running.id === msg.id) {
    clearInterval(running.timer);
    running = null;
    postMessage({ kind: 'cancelled', id: msg.id });
  }
};

setTimeout(() => postMessage({ kind: 'ready' }), 150);
