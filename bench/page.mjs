// The browser half of the benchmark (bench/run.mjs drives it with page.evaluate): Infill through the
// page's own worker (dist/worker.js, the product's protocol, unchanged), and wllama (llama.cpp in wasm)
// on the same model file and the same prompt text. Every time is taken here, on the page's clock.
import { Wllama } from '/wllama/index.js';

const now = () => performance.now();
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? (s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2) : NaN;
};

/** Fetches a file as a Blob (bytes in the page's memory, so load figures exclude the network). */
async function fetchBlob(url) {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
  return response.blob();
}

/** The product's worker, spoken to with the product's protocol; every event is stamped on arrival. */
class InfillWorker {
  constructor() {
    this.worker = new Worker('/worker.js');
    this.nextId = 1;
    this.listeners = new Set();
    this.worker.onmessage = (e) => {
      const t = now();
      for (const listener of [...this.listeners]) listener(e.data, t);
    };
  }

  /** Resolves with the list of {event, t} the worker sent until `last(event)` holds; rejects on an error. */
  collect(last, send) {
    return new Promise((resolve, reject) => {
      const events = [];
      const listener = (event, t) => {
        events.push({ event, t });
        if (event.kind === 'error') {
          this.listeners.delete(listener);
          reject(new Error(`the worker answered an error: ${event.message}`));
        } else if (last(event)) {
          this.listeners.delete(listener);
          resolve(events);
        }
      };
      this.listeners.add(listener);
      if (send) this.worker.postMessage(send);
    });
  }

  ready() {
    return this.collect((e) => e.kind === 'ready');
  }

  close() {
    this.worker.terminate();
  }
}

const state = { infill: null, wllama: null, blobs: new Map() };

async function blob(url) {
  if (!state.blobs.has(url)) state.blobs.set(url, await fetchBlob(url));
  return state.blobs.get(url);
}

/** Starts a fresh Infill worker (a fresh engine: nothing cached from an earlier run). */
async function infillStart() {
  state.infill?.close();
  state.infill = new InfillWorker();
  await state.infill.ready();
}

/**
 * Loads a model the way the page loads a local file (a `load` request carrying the Blob). The load time
 * runs from the worker's last progress event (all bytes read) to `loaded`: parsing, re-encoding, ready.
 */
async function infillLoad(url, requantize) {
  const w = state.infill;
  const id = w.nextId++;
  const file = await blob(url);
  const t0 = now();
  const events = await w.collect((e) => e.kind === 'loaded' && e.id === id, {
    kind: 'load', id, url: '', name: url.split('/').pop(), requantize, file,
  });
  const loaded = events[events.length - 1];
  const lastBytes = events.filter((e) => e.event.kind === 'progress' && e.event.loaded === file.size).pop();
  return {
    loadMs: loaded.t - (lastBytes ? lastBytes.t : t0),
    requestMs: loaded.t - t0,
    fileBytes: file.size,
    model: loaded.event.model,
  };
}

/**
 * One `complete` request. prefillMs: request to `started` (the prompt built, tokenized and run). A step:
 * the time between two consecutive step events (`beams`, then `done`); the first step and the last (which
 * builds the report) are left out of `stepMs`.
 */
async function infillComplete(code, line, settings) {
  const w = state.infill;
  const id = w.nextId++;
  const t0 = now();
  const events = await w.collect((e) => (e.kind === 'done' || e.kind === 'cancelled') && e.id === id, {
    kind: 'complete', id, code, line, settings,
  });
  const mine = events.filter((e) => e.event.id === id);
  const started = mine.find((e) => e.event.kind === 'started');
  // The worker reads the prompt in pieces (PROMPT_CHUNK tokens), one `beams` event with no beams per piece;
  // the last piece is read with the first decoding step. Those events are the prompt, not decoding.
  const reading = mine.filter((e) => e.event.kind === 'beams' && e.event.beams.length === 0);
  const readStart = reading.length ? reading[reading.length - 1] : started;
  const steps = mine.filter((e) => (e.event.kind === 'beams' && e.event.beams.length > 0) || e.event.kind === 'done');
  const intervals = steps.map((e, i) => e.t - (i === 0 ? readStart.t : steps[i - 1].t));
  const done = mine[mine.length - 1].event;
  const sorted = intervals.slice(1, -1).sort((x, y) => x - y);
  const medianStep = sorted.length ? sorted[Math.floor(sorted.length / 2)] : 0;
  return {
    promptTokens: started.event.prompt_tokens,
    prompt: started.event.prompt,
    // To the end of the prompt: up to the first decoding step, less one typical step.
    prefillMs: readStart.t - t0 + Math.max(0, intervals[0] - medianStep),
    steps: steps.length,
    firstStepMs: intervals[0],
    stepMs: intervals.slice(1, -1),
    lastStepMs: intervals[intervals.length - 1],
    totalMs: steps[steps.length - 1].t - t0,
    stats: done.result?.stats,
    completion: done.result?.completion,
  };
}

/** Runs every task (prefix/middle/suffix records) with `settings`; the wall time of the whole batch. */
async function infillBatch(tasks, settings) {
  const t0 = now();
  let tokens = 0;
  let exact = 0;
  for (const task of tasks) {
    const code = task.prefix + task.middle + task.suffix;
    const line = task.prefix.split('\n').length;
    const r = await infillComplete(code, line, settings);
    tokens += r.steps;
    if (r.completion !== undefined && r.completion.trim() === task.middle.trim()) exact += 1;
  }
  return { tasks: tasks.length, ms: now() - t0, tokens, exact };
}

function infillStop() {
  state.infill?.close();
  state.infill = null;
}

/** Loads the model into a fresh wllama instance with `threads` threads; load time from the Blob to ready. */
async function wllamaLoad(url, threads) {
  await state.wllama?.exit();
  const file = await blob(url);
  const w = new Wllama({ default: '/wllama/wasm/wllama.wasm' }, { suppressNativeLog: true });
  const t0 = now();
  await w.loadModel([file], { n_threads: threads, n_ctx: 1024, n_batch: 512, n_gpu_layers: 0 });
  const loadMs = now() - t0;
  state.wllama = w;
  return { loadMs, threads: w.getNumThreads(), multithread: w.isMultithread(), isolated: self.crossOriginIsolated };
}

/**
 * Greedy completion of `prompt` (Infill's exact prompt text) for `tokens` tokens, end-of-text ignored so
 * it runs the same number of steps as Infill. Streamed with llama.cpp's own timings on every token, so a
 * decode still running after `capMs` can be stopped and still be measured (on a loaded machine wllama's
 * threads can slow down a hundredfold).
 */
async function wllamaComplete(prompt, tokens, capMs) {
  const t0 = now();
  const controller = new AbortController();
  let timings = null;
  let text = '';
  let first = null;
  let capped = false;
  const arrivals = [];
  try {
    await state.wllama.createCompletion({
      prompt, max_tokens: tokens, temperature: 0, ignore_eos: true, cache_prompt: false, timings_per_token: true,
      stream: true, abortSignal: controller.signal,
      onData: (chunk) => {
        const t = now();
        if (chunk.timings) timings = chunk.timings;
        text += chunk.choices?.[0]?.text ?? '';
        arrivals.push(t);
        first ??= t;
        if (!capped && t - first > capMs) {
          capped = true;
          controller.abort();
        }
      },
    });
  } catch (e) {
    if (!capped) throw e;
  }
  if (!timings && arrivals.length > 2) {
    // No per-token timings from llama.cpp: the page's clock, from the first streamed token on.
    const ms = arrivals[arrivals.length - 1] - arrivals[0];
    timings = {
      prompt_ms: arrivals[0] - t0,
      predicted_n: arrivals.length,
      predicted_per_second: (1000 * (arrivals.length - 1)) / ms,
      predicted_per_token_ms: ms / (arrivals.length - 1),
      source: 'page clock',
    };
  }
  return { wallMs: now() - t0, timings, capped, text };
}

async function wllamaStop() {
  await state.wllama?.exit();
  state.wllama = null;
}

window.bench = {
  infillStart, infillLoad, infillComplete, infillBatch, infillStop, wllamaLoad, wllamaComplete, wllamaStop, median,
};
document.getElementById('status').textContent = 'ready';
