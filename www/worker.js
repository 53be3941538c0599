// The Web Worker: fetches and caches model files, and drives the wasm engine one decoding step at a
// time, yielding between steps so a `cancel` message can arrive. Messages follow www/protocol.js.
/* global wasm_bindgen */
importScripts('./infill.js');

const CACHE = 'infill-models-v1';
let engine = null;
const cancelled = new Set();

const post = (event) => self.postMessage(event);

// A macrotask boundary without setTimeout's 4 ms clamp: lets queued messages (cancel) run.
const channel = new MessageChannel();
const waiting = [];
channel.port1.onmessage = () => waiting.shift()?.();
const yieldToEvents = () => new Promise((resolve) => { waiting.push(resolve); channel.port2.postMessage(null); });

function describe(error) {
  if (error && error.name === 'QuotaExceededError') {
    return 'The browser has no storage space left for the model. Delete cached models or free disk space.';
  }
  return String(error && error.message ? error.message : error);
}

async function openCache() {
  try {
    return self.caches ? await self.caches.open(CACHE) : null;
  } catch (_) {
    return null; // Storage may be disabled (private mode): work without a cache.
  }
}

async function fetchModel(id, url) {
  const cache = await openCache();
  const cached = cache ? await cache.match(url) : undefined;
  if (cached) {
    const bytes = new Uint8Array(await cached.arrayBuffer());
    post({ kind: 'progress', id, loaded: bytes.length, total: bytes.length });
    return bytes;
  }
  let response;
  try {
    response = await fetch(url);
  } catch (e) {
    throw new Error(`The model could not be downloaded from ${url}: ${describe(e)}`);
  }
  if (!response.ok) {
    throw new Error(`The model could not be downloaded: the server answered ${response.status} ${response.statusText} for ${url}`);
  }
  const total = Number(response.headers.get('content-length')) || 0;
  const reader = response.body.getReader();
  const chunks = [];
  let loaded = 0;
  let lastPost = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    loaded += value.byteLength;
    const now = performance.now();
    if (now - lastPost > 100) {
      lastPost = now;
      post({ kind: 'progress', id, loaded, total });
    }
  }
  post({ kind: 'progress', id, loaded, total: total || loaded });
  const bytes = new Uint8Array(loaded);
  let offset = 0;
  for (const c of chunks) { bytes.set(c, offset); offset += c.byteLength; }
  if (cache) {
    try {
      await cache.put(url, new Response(bytes, { headers: { 'content-type': 'application/octet-stream' } }));
    } catch (e) {
      post({ kind: 'error', id: null, message: `The model works but was not saved for next time: ${describe(e)}` });
    }
  }
  return bytes;
}

async function load(request) {
  try {
    const bytes = await fetchModel(request.id, request.url);
    await yieldToEvents();
    post(engine.load(request.id, bytes, request.name, request.requantize !== false));
  } catch (e) {
    post({ kind: 'error', id: request.id, message: describe(e) });
  }
}

async function complete(request) {
  let event;
  try {
    event = engine.start(request);
    post(event);
    while (event.kind === 'started' || event.kind === 'beams') {
      await yieldToEvents();
      if (cancelled.delete(request.id)) {
        post(engine.cancel(request.id));
        return;
      }
      event = engine.step();
      post(event);
    }
  } catch (e) {
    // A panic inside the wasm module leaves it unusable: say so; the page restarts the worker.
    post({ kind: 'error', id: request.id, message: `The engine crashed: ${describe(e)}`, fatal: true });
  }
}

// Requests are handled one at a time, in order; `cancel` jumps the queue.
let chain = Promise.resolve();
self.onmessage = (e) => {
  const request = e.data;
  if (request.kind === 'cancel') {
    cancelled.add(request.id);
    return;
  }
  if (request.kind === 'score') {
    // Pure computation, no model: answered at once, even while a completion runs.
    post(engine ? engine.score(request) : { kind: 'error', id: request.id, message: 'the engine is still starting' });
    return;
  }
  chain = chain.then(() => (request.kind === 'load' ? load(request) : request.kind === 'complete' ? complete(request) : post({ kind: 'error', id: request.id ?? null, message: `unknown request kind ${request.kind}` })));
};

wasm_bindgen('./infill_bg.wasm')
  .then(() => {
    engine = new wasm_bindgen.WorkerEngine();
    post({ kind: 'ready' });
  })
  .catch((e) => post({ kind: 'error', id: null, message: `The engine could not start in this browser: ${describe(e)}`, fatal: true }));
