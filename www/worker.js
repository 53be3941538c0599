// The Web Worker: fetches and caches model files, and drives the wasm engine one decoding step at a
// time, yielding between steps so a `cancel` message can arrive. Messages follow www/protocol.js.
/* global wasm_bindgen */
importScripts('./infill.js');

const CACHE = 'infill-models-v1'; // protocol.js MODEL_CACHE
const RETRIES = 3; // a download that breaks off is resumed (or restarted) at most this many times
let engine = null;
let loadedEvent = null; // the `loaded` event of the model in memory, re-sent when a later load fails
let loading = null; // {id, controller} of the load in progress
let latestLoad = null; // id of the newest `load` request: older queued ones are skipped
const cancelled = new Set();
const stopped = new Set(); // loads whose download the user stopped (a `cancel` with the load's id)

const post = (event) => self.postMessage(event);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const mb = (bytes) => (bytes / 1e6).toFixed(1);

// A macrotask boundary without setTimeout's 4 ms clamp: lets queued messages (cancel) run.
const channel = new MessageChannel();
const waiting = [];
channel.port1.onmessage = () => waiting.shift()?.();
const yieldToEvents = () => new Promise((resolve) => { waiting.push(resolve); channel.port2.postMessage(null); });

/**
 * The largest model file this engine can load. wasm32 addresses at most 4 GiB, and loading needs the file's
 * bytes and the weights built from them in that memory at once (about twice the file), plus room for the
 * engine itself: (4 GiB - 256 MiB) / 2, about 2.0 GB. A bigger file is refused before anything is downloaded.
 */
const MAX_MODEL_BYTES = Math.floor((4 * 2 ** 30 - 256 * 2 ** 20) / 2);

function tooLarge(name, bytes) {
  return new UserError(`\`${name}\` is ${(bytes / 1e9).toFixed(2)} GB, too large for this page: the engine runs in WebAssembly, `
    + `which can use at most 4 GiB of memory, and loading a model needs about twice its file size, so the largest model it can load is about ${(MAX_MODEL_BYTES / 1e9).toFixed(1)} GB. `
    + 'Choose a smaller model, or a more strongly quantized file of the same one.');
}

/**
 * The fatal error event for an exception thrown by a wasm call. The engine's calls return events and never
 * throw, so an exception is a crash (a Rust panic, or memory exhausted), and the module is unusable until the
 * page restarts the worker. The message is the panic's own when there was one.
 */
function crashEvent(id, error) {
  let panic = '';
  try { panic = wasm_bindgen.takePanicMessage() || ''; } catch (_) { panic = ''; }
  const why = panic || `${describe(error)} (the engine stopped without a panic message, which usually means it ran out of memory)`;
  return { kind: 'error', id, message: `The engine crashed: ${why}`, fatal: true };
}

function describe(error) {
  if (error && error.name === 'QuotaExceededError') {
    return 'The browser has no storage space left for the model. Delete stored models (in “Change the model”) or free disk space.';
  }
  return String(error && error.message ? error.message : error);
}

/** Thrown when a newer `load` replaced this one: nobody is waiting for its answer. */
class Superseded extends Error {}
/** An error whose message is already written for the user. */
class UserError extends Error {}

async function openCache() {
  try {
    return self.caches ? await self.caches.open(CACHE) : null;
  } catch (_) {
    return null; // Storage may be disabled (private mode): work without a cache.
  }
}

function httpError(response, url, companion = '') {
  const s = response.status;
  const missing = companion
    ? ` There is no such file: a safetensors model needs its ${companion} next to the weights (in the same repository folder).`
    : ' There is no such file: check the repository and the file name.';
  const why = s === 404 ? missing
    : s === 401 || s === 403 ? ' The file is private or gated; this page can only download public models.'
      : s >= 500 ? ' The server has a problem; try again later.' : '';
  const text = response.statusText ? ` ${response.statusText}` : '';
  const what = companion ? `The model's ${companion}` : 'The model';
  return new UserError(`${what} could not be downloaded: the server answered ${s}${text} for ${url}.${why}`);
}

/** The first byte of a 206 answer from its Content-Range (`bytes N-M/T`), and the total; null if not readable. */
function contentRange(response) {
  const m = /^bytes (\d+)-\d+\/(\d+|\*)$/.exec(response.headers.get('content-range') || '');
  return m ? { start: Number(m[1]), total: m[2] === '*' ? 0 : Number(m[2]) } : null;
}

/**
 * Downloads `url` with progress. A connection that drops mid-way is retried up to RETRIES times: resumed
 * with `Range: bytes=N-` unless the server said it cannot (`Accept-Ranges: none`) or answers the range
 * request with a whole file (200), in which case the download starts again.
 */
async function download(id, url, name, signal, companion = '') {
  const chunks = [];
  let loaded = 0;
  let total = 0;
  let ranges = null; // true: `Accept-Ranges: bytes`; false: `none`; null: not said (or not readable)
  let retries = 0;
  let lastPost = 0;
  const progress = (note) => post(note ? { kind: 'progress', id, loaded, total, note } : { kind: 'progress', id, loaded, total });

  const retryOrThrow = async (error, when) => {
    if (signal.aborted) throw new Superseded();
    if (retries >= RETRIES) {
      throw new UserError(`The download of ${url} ${when} and did not recover after ${RETRIES} tries (${describe(error)}). `
        + 'Check the internet connection, then try again.');
    }
    retries += 1;
    const resume = loaded > 0 && ranges !== false;
    progress(loaded > 0
      ? `The connection dropped at ${mb(loaded)} MB; ${resume ? 'resuming where it stopped' : 'starting again'} (try ${retries} of ${RETRIES})…`
      : `Could not reach the server; trying again (try ${retries} of ${RETRIES})…`);
    await sleep(400 * retries);
    if (signal.aborted) throw new Superseded();
  };

  for (;;) {
    const resume = loaded > 0 && ranges !== false;
    let response;
    try {
      response = await fetch(url, { signal, cache: 'no-store', headers: resume ? { Range: `bytes=${loaded}-` } : {} });
    } catch (e) {
      await retryOrThrow(e, loaded > 0 ? `broke off after ${mb(loaded)} MB` : 'could not start');
      continue;
    }
    if (resume && response.status === 206) {
      const range = contentRange(response);
      if (range && range.start !== loaded) {
        throw new UserError(`The download of ${url} could not be resumed: the server sent bytes from ${range.start}, not ${loaded}. Try again.`);
      }
    } else if (!response.ok) {
      throw httpError(response, url, companion);
    } else {
      // A whole file: the first answer, or a server that ignored the range request. (Re)start from zero.
      chunks.length = 0;
      loaded = 0;
      total = Number(response.headers.get('content-length')) || 0;
      if (total > MAX_MODEL_BYTES) {
        response.body?.cancel().catch(() => {});
        throw tooLarge(name, total);
      }
      const accept = (response.headers.get('accept-ranges') || '').toLowerCase();
      ranges = accept.includes('bytes') ? true : accept.includes('none') ? false : null;
    }
    try {
      const reader = response.body.getReader();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        chunks.push(value);
        loaded += value.byteLength;
        const now = performance.now();
        if (now - lastPost > 100) {
          lastPost = now;
          progress();
        }
      }
      if (total > 0 && loaded < total) throw new Error(`the connection closed after ${mb(loaded)} of ${mb(total)} MB`);
      break;
    } catch (e) {
      await retryOrThrow(e, `broke off after ${mb(loaded)} MB`);
    }
  }
  progress();
  const bytes = new Uint8Array(loaded);
  let offset = 0;
  for (const c of chunks) { bytes.set(c, offset); offset += c.byteLength; }
  return bytes;
}

/** Says what is wrong when `bytes` are not a GGUF file (null when they look like one). */
function notGguf(bytes, name) {
  if (bytes.length >= 8 && bytes[0] === 0x47 && bytes[1] === 0x47 && bytes[2] === 0x55 && bytes[3] === 0x46) return null;
  const lower = name.toLowerCase();
  const jsonHeader = bytes.length > 9 && bytes[8] === 0x7b; // safetensors: u64 header length, then `{`
  if (/\.safetensors\b/.test(lower) || /\.json\b/.test(lower) || jsonHeader) {
    return `\`${name}\` is a safetensors model file, not GGUF: it loads together with its config.json and tokenizer.json `
      + '(choose or drop the three files at once, or give the Hub repository and model.safetensors).';
  }
  const head = new TextDecoder().decode(bytes.subarray(0, 256)).trimStart().toLowerCase();
  const html = head.startsWith('<!doctype html') || head.startsWith('<html');
  // The engine's own wording (src/engine.rs), checked here first so the model in memory stays loaded.
  return `\`${name}\` is not a GGUF file (it does not start with the GGUF magic bytes)${html ? ': the server sent a web page instead of the model, so the address is probably wrong' : ''}.`;
}

const looksLikeHtml = (bytes) => {
  const head = new TextDecoder().decode(bytes.subarray(0, 256)).trimStart().toLowerCase();
  return head.startsWith('<!doctype html') || head.startsWith('<html');
};

/** Says what is wrong when `bytes` are not a safetensors file (null when they look like one). */
function notSafetensors(bytes, name) {
  // An 8-byte little-endian header length, then that many bytes of JSON header starting with `{`.
  if (bytes.length > 9 && bytes[8] === 0x7b) {
    const size = new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true);
    if (size <= BigInt(bytes.length - 8)) return null;
  }
  const html = looksLikeHtml(bytes);
  return `\`${name}\` is not a safetensors file (it does not start with a safetensors header)`
    + `${html ? ': the server sent a web page instead of the model, so the address is probably wrong' : ''}.`;
}

/** Says what is wrong when `bytes` are not the JSON file `file` of a safetensors model (null when they parse). */
function notJson(bytes, file, source) {
  try {
    JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
    return null;
  } catch (e) {
    const html = looksLikeHtml(bytes);
    return `The model's ${file} (${source}) is not a JSON file${html ? ': the server sent a web page instead' : ''} (${describe(e)}).`;
  }
}

/**
 * One file of a load: read from the user's computer, found in the cache, or downloaded with progress.
 * Returns {bytes, fromCache}.
 */
async function fetchPart(request, part, cache, signal) {
  const { id } = request;
  if (part.file) {
    if (part.file.size > MAX_MODEL_BYTES) throw tooLarge(part.name, part.file.size);
    post({ kind: 'progress', id, loaded: 0, total: part.file.size || 0, note: `Reading ${part.label} from your computer…` });
    const bytes = new Uint8Array(await part.file.arrayBuffer());
    post({ kind: 'progress', id, loaded: bytes.length, total: bytes.length });
    return { bytes, fromCache: false };
  }
  const cached = cache ? await cache.match(part.url) : undefined;
  if (cached) {
    const bytes = new Uint8Array(await cached.arrayBuffer());
    post({ kind: 'progress', id, loaded: bytes.length, total: bytes.length, note: 'Found in this browser’s storage: nothing to download.' });
    return { bytes, fromCache: true };
  }
  try {
    if (part.note) post({ kind: 'progress', id, loaded: 0, total: 0, note: part.note });
    return { bytes: await download(id, part.url, part.name, signal, part.companion), fromCache: false };
  } catch (e) {
    if (e instanceof Superseded || signal.aborted) throw new Superseded();
    if (e instanceof UserError) throw e;
    throw new Error(`The model could not be downloaded from ${part.url}: ${describe(e)}`);
  }
}

/** Loads a GPT-BigCode safetensors model: config.json and tokenizer.json first (small), then the weights. */
/**
 * Posts the engine's answer to a load. After a refused file the engine keeps the model in use unless the
 * two together were too large for memory (`hasModel` says which): the page is told it is still usable.
 */
function afterLoad(event) {
  if (event && event.kind === 'loaded') {
    loadedEvent = event;
    post(event);
    return;
  }
  post(event);
  if (loadedEvent && engine.hasModel()) post(loadedEvent);
  else loadedEvent = null;
}

async function loadSafetensors(request, name, signal) {
  const local = Boolean(request.file);
  if (local && (!request.config_file || !request.tokenizer_file)) {
    throw new UserError(`\`${name}\` is a safetensors model: choose its config.json and tokenizer.json together with it.`);
  }
  const parts = [
    { key: 'config', companion: 'config.json', label: 'config.json', name: 'config.json', url: String(request.config_url || ''), file: request.config_file,
      note: 'Downloading config.json (file 1 of 3)…' },
    { key: 'tokenizer', companion: 'tokenizer.json', label: 'tokenizer.json', name: 'tokenizer.json', url: String(request.tokenizer_url || ''), file: request.tokenizer_file,
      note: 'Downloading tokenizer.json (file 2 of 3)…' },
    { key: 'weights', companion: '', label: 'the weights', name, url: String(request.url), file: request.file,
      note: 'Downloading the weights (file 3 of 3)…' },
  ];
  const cache = local ? null : await openCache();
  const got = {};
  for (const part of parts) {
    got[part.key] = await fetchPart(request, part, cache, signal);
    if (signal.aborted) throw new Superseded();
    const { bytes } = got[part.key];
    const source = part.file ? part.file.name : part.url;
    const problem = part.companion ? notJson(bytes, part.companion, source) : notSafetensors(bytes, name);
    if (problem) {
      if (got[part.key].fromCache) await cache.delete(part.url).catch(() => {});
      throw new UserError(problem);
    }
  }
  await yieldToEvents();
  if (signal.aborted) throw new Superseded();
  let event;
  try {
    event = engine.loadSafetensors(request.id, got.weights.bytes, got.config.bytes, got.tokenizer.bytes, name);
  } catch (e) {
    return { crash: crashEvent(request.id, e) };
  }
  if (event && event.kind === 'loaded' && cache) {
    // Each file under its own address; the companions point at the weights, so the list shows one model.
    const weights = parts[2];
    const store = async (part, extra) => {
      if (got[part.key].fromCache) return;
      await cache.put(part.url, new Response(got[part.key].bytes, {
        headers: {
          'content-type': part.companion ? 'application/json' : 'application/octet-stream',
          'x-infill-bytes': String(got[part.key].bytes.length),
          'x-infill-name': encodeURIComponent(part.companion ? `${name} ${part.companion}` : name),
          ...extra,
        },
      }));
    };
    try {
      await store(weights, {});
      for (const part of parts.slice(0, 2)) await store(part, { 'x-infill-part-of': encodeURIComponent(weights.url) });
    } catch (e) {
      for (const part of parts) if (!got[part.key].fromCache) await cache.delete(part.url).catch(() => {});
      post({ kind: 'error', id: null, message: `The model works, but it could not be stored for next time: ${describe(e)}` });
    }
  }
  return { event };
}

/** The answer to a load the user stopped: an error saying so, then the model still in memory, if any. */
function loadStopped(request) {
  post({ kind: 'error', id: request.id, message: `You stopped the download of ${String(request.name)}. Nothing of it was kept.` });
  if (loadedEvent) post(loadedEvent);
}

async function load(request) {
  if (request.id !== latestLoad) return; // a newer load is queued behind this one
  if (cancelled.delete(request.id)) { loadStopped(request); return; } // stopped before it started
  const controller = new AbortController();
  loading = { id: request.id, controller };
  const { signal } = controller;
  const name = String(request.name);
  try {
    if (request.config_url !== undefined || request.config_file || request.tokenizer_url !== undefined || request.tokenizer_file) {
      const { event, crash } = await loadSafetensors(request, name, signal);
      if (crash) {
        post(crash); // the page restarts the worker
        return;
      }
      afterLoad(event);
      return;
    }
    let bytes;
    let cache = null;
    let fromCache = false;
    if (request.file) {
      if (request.file.size > MAX_MODEL_BYTES) throw tooLarge(name, request.file.size);
      post({ kind: 'progress', id: request.id, loaded: 0, total: request.file.size || 0, note: 'Reading the file from your computer…' });
      bytes = new Uint8Array(await request.file.arrayBuffer());
      post({ kind: 'progress', id: request.id, loaded: bytes.length, total: bytes.length });
    } else {
      cache = await openCache();
      const cached = cache ? await cache.match(request.url) : undefined;
      if (cached) {
        bytes = new Uint8Array(await cached.arrayBuffer());
        fromCache = true;
        post({ kind: 'progress', id: request.id, loaded: bytes.length, total: bytes.length, note: 'Found in this browser’s storage: nothing to download.' });
      } else {
        try {
          bytes = await download(request.id, request.url, name, signal);
        } catch (e) {
          if (e instanceof Superseded || signal.aborted) throw new Superseded();
          if (e instanceof UserError) throw e;
          throw new Error(`The model could not be downloaded from ${request.url}: ${describe(e)}`);
        }
      }
    }
    if (signal.aborted) throw new Superseded();
    const problem = notGguf(bytes, name);
    if (problem) {
      if (fromCache) await cache.delete(request.url).catch(() => {});
      throw new Error(problem);
    }
    await yieldToEvents();
    if (signal.aborted) throw new Superseded();
    let event;
    try {
      event = engine.load(request.id, bytes, name, request.requantize !== false);
    } catch (e) {
      post(crashEvent(request.id, e)); // the page restarts the worker
      return;
    }
    if (event && event.kind !== 'loaded') {
      afterLoad(event);
      return;
    }
    loadedEvent = event;
    if (cache && !fromCache) {
      try {
        await cache.put(request.url, new Response(bytes, {
          headers: {
            'content-type': 'application/octet-stream',
            'x-infill-bytes': String(bytes.length),
            'x-infill-name': encodeURIComponent(name),
          },
        }));
      } catch (e) {
        post({ kind: 'error', id: null, message: `The model works, but it could not be stored for next time: ${describe(e)}` });
      }
    }
    post(event);
  } catch (e) {
    if (e instanceof Superseded) {
      if (stopped.delete(request.id)) loadStopped(request);
      return; // otherwise a newer load replaced this one
    }
    post({ kind: 'error', id: request.id, message: describe(e) });
    if (loadedEvent) post(loadedEvent); // the previous model is still in memory and usable
  } finally {
    if (loading && loading.id === request.id) loading = null;
  }
}

/** The weights' address a cached companion file (a safetensors model's config.json, tokenizer.json) belongs to. */
function partOf(res) {
  try { return decodeURIComponent(res.headers.get('x-infill-part-of') || ''); } catch (_) { return ''; }
}

async function cacheList(id) {
  const entries = [];
  const companions = [];
  const cache = await openCache();
  if (cache) {
    for (const req of await cache.keys()) {
      const res = await cache.match(req);
      if (!res) continue;
      let bytes = Number(res.headers.get('x-infill-bytes')) || Number(res.headers.get('content-length')) || 0;
      if (!bytes) bytes = (await res.blob()).size;
      const owner = partOf(res);
      if (owner) {
        companions.push({ owner, url: req.url, bytes });
        continue;
      }
      let name = '';
      try { name = decodeURIComponent(res.headers.get('x-infill-name') || ''); } catch (_) { name = ''; }
      if (!name) {
        try { name = decodeURIComponent(new URL(req.url).pathname.split('/').pop()); } catch (_) { name = req.url; }
      }
      entries.push({ url: req.url, name, bytes });
    }
    // A safetensors model is one entry: its companions' bytes count with the weights. A companion whose weights
    // are gone is listed on its own, so it can still be deleted.
    for (const c of companions) {
      const main = entries.find((e) => e.url === c.owner);
      if (main) main.bytes += c.bytes;
      else entries.push({ url: c.url, name: decodeURIComponent(new URL(c.url).pathname.split('/').pop()), bytes: c.bytes });
    }
  }
  let quota = null;
  try {
    const estimate = await self.navigator.storage?.estimate?.();
    if (estimate && Number.isFinite(estimate.quota)) quota = estimate.quota;
  } catch (_) { quota = null; }
  post({ kind: 'cache', id, entries, quota });
}

async function cacheRequest(request) {
  try {
    if (request.kind === 'cache_delete') {
      const cache = await openCache();
      if (cache) {
        await cache.delete(request.url);
        for (const req of await cache.keys()) {
          const res = await cache.match(req);
          if (res && partOf(res) === request.url) await cache.delete(req);
        }
      }
    }
    await cacheList(request.id);
  } catch (e) {
    post({ kind: 'error', id: null, message: `The stored models could not be read: ${describe(e)}` });
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
    post(crashEvent(request.id, e));
  }
}

// Reads the code while the person chooses a line (src/protocol.rs Request::ReadAhead): a piece per step, as a
// long prompt is read, until only its last piece is left, or until anything else is asked of the engine.
// Ending it keeps what it read (src/engine.rs Engine::stop), so the `complete` that follows continues from there.
async function readAhead(request) {
  try {
    if (!engine) { post({ kind: 'read_ahead', id: request.id, read: 0, total: 0, done: true }); return; }
    let event = engine.readAhead(request);
    post(event);
    while (event.kind === 'read_ahead' && !event.done) {
      await yieldToEvents();
      if (queued > 0 || cancelled.delete(request.id)) {
        engine.cancel(request.id);
        post({ kind: 'read_ahead', id: request.id, read: event.read, total: event.total, done: true });
        return;
      }
      event = engine.readAheadStep();
      post(event);
    }
  } catch (e) {
    post(crashEvent(request.id, e));
  }
}

// Requests waiting in `chain` behind the one running: a read-ahead gives way to them.
let queued = 0;

// Requests are handled one at a time, in order; `cancel` jumps the queue, and a `load` stops a download
// still in progress. Cache requests and scores are answered at once.
let chain = Promise.resolve();
self.onmessage = (e) => {
  const request = e.data;
  if (request.kind === 'cancel') {
    // A completion stops at its next step; a load stops its download (or never starts it, if queued).
    if (loading && loading.id === request.id) {
      stopped.add(request.id);
      loading.controller.abort();
    } else {
      cancelled.add(request.id);
    }
    return;
  }
  if (request.kind === 'score') {
    // Pure computation, no model: answered at once, even while a completion runs.
    try {
      post(engine ? engine.score(request) : { kind: 'error', id: request.id, message: 'the engine is still starting' });
    } catch (e) {
      post(crashEvent(request.id, e));
    }
    return;
  }
  if (request.kind === 'panic') {
    // Self-test (src/protocol.rs Request::Panic): a real Rust panic, landing between two steps of a running
    // completion just as a bug in a step would.
    try {
      if (engine) engine.panic(request.id);
    } catch (e) {
      post(crashEvent(request.id, e));
    }
    return;
  }
  if (request.kind === 'dataset' || request.kind === 'summarize') {
    // Batch evaluation (src/web/batch.rs): pure computation, answered at once, even while a completion runs.
    if (!engine) { post({ kind: 'error', id: request.id, message: 'the engine is still starting' }); return; }
    try {
      post(request.kind === 'dataset' ? engine.dataset(request) : engine.summarize(request));
    } catch (e) {
      post(crashEvent(request.id, e));
    }
    return;
  }
  if (request.kind === 'cache_list' || request.kind === 'cache_delete') {
    cacheRequest(request);
    return;
  }
  if (request.kind === 'load') {
    latestLoad = request.id;
    if (loading) loading.controller.abort();
  }
  const handlers = { load, complete, read_ahead: readAhead };
  const run = Object.hasOwn(handlers, request.kind) ? handlers[request.kind] : null;
  queued += 1;
  chain = chain.then(() => {
    queued -= 1;
    return run ? run(request) : post({ kind: 'error', id: request.id ?? null, message: `unknown request kind ${request.kind}` });
  });
};

wasm_bindgen('./infill_bg.wasm')
  .then(() => {
    engine = new wasm_bindgen.WorkerEngine();
    post({ kind: 'ready' });
  })
  .catch((e) => post({ kind: 'error', id: null, message: `The engine could not start in this browser: ${describe(e)}`, fatal: true }));
