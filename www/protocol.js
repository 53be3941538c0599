// The message protocol between the page (app.js) and the worker (worker.js + the wasm engine).
// It mirrors src/protocol.rs; keep the two in step. Plain data only: no DOM, no side effects.

/** Request kinds, page → worker. */
export const REQ = Object.freeze({
  LOAD: 'load',
  COMPLETE: 'complete',
  READ_AHEAD: 'read_ahead', // read the code while the person chooses a line (src/protocol.rs Request::ReadAhead)
  CANCEL: 'cancel',
  SCORE: 'score',
  CACHE_LIST: 'cache_list',
  CACHE_DELETE: 'cache_delete',
  DATASET: 'dataset',
  SUMMARIZE: 'summarize',
  PANIC: 'panic', // self-test: the engine panics on purpose (src/protocol.rs Request::Panic)
});

/** Event kinds, worker → page. */
export const EV = Object.freeze({
  READY: 'ready',
  PROGRESS: 'progress',
  LOADED: 'loaded',
  STARTED: 'started',
  BEAMS: 'beams',
  READ_AHEAD: 'read_ahead',
  DONE: 'done',
  CANCELLED: 'cancelled',
  SCORED: 'scored',
  CACHE: 'cache',
  ERROR: 'error',
  DATASET: 'dataset',
  SUMMARY: 'summary',
});

/** The model the page loads as soon as the worker says `ready` (unless the URL asks for another). */
export const DEFAULT_MODEL = Object.freeze({
  key: 'smollm2-135m',
  url: './models/SmolLM2-135M-Instruct.Q4_1.gguf',
  name: 'SmolLM2-135M-Instruct (Q4_1)',
});

/** Where Hub files are downloaded from, unless the page's URL says `?hub=<base>`. */
export const DEFAULT_HUB = 'https://huggingface.co';

/** The name of the Cache API store the worker keeps downloaded model files in. */
export const MODEL_CACHE = 'infill-models-v1';

/**
 * The models the page offers. `bytes` is the file's size as the Hub lists it (the progress bar shows the
 * exact size). `fim`: trained for fill-in-the-middle (sees the code below the gap too). `unavailable`: listed
 * but not loadable yet, with the reason shown to the user.
 * @typedef {{key: string, name: string, bytes: number, fim: boolean, description: string,
 *   url?: string, repo?: string, file?: string, unavailable?: string}} CatalogEntry
 * @type {ReadonlyArray<Readonly<CatalogEntry>>}
 */
export const CATALOG = Object.freeze([
  Object.freeze({
    key: DEFAULT_MODEL.key, name: DEFAULT_MODEL.name, url: DEFAULT_MODEL.url, bytes: 98_362_432, fim: false,
    description: 'The small default model (135 million parameters). It comes with this page, so it also works offline.',
  }),
  Object.freeze({
    key: 'smollm2-360m', name: 'SmolLM2-360M-Instruct (Q8_0)', bytes: 386_000_000, fim: false,
    repo: 'HuggingFaceTB/SmolLM2-360M-Instruct-GGUF', file: 'smollm2-360m-instruct-q8_0.gguf',
    description: 'The same family, almost three times bigger: slower, and often better guesses.',
  }),
  Object.freeze({
    key: 'qwen2.5-coder-0.5b', name: 'Qwen2.5-Coder-0.5B (Q8_0, FIM)', bytes: 531_000_000, fim: true,
    repo: 'Qwen/Qwen2.5-Coder-0.5B-Instruct-GGUF', file: 'qwen2.5-coder-0.5b-instruct-q8_0.gguf',
    description: 'Trained on code (500 million parameters), and trained to fill a gap using the code on both sides of it.',
  }),
  Object.freeze({
    key: 'tiny-starcoder-py', name: 'bigcode/tiny_starcoder_py', bytes: 657_000_000, fim: true,
    repo: 'bigcode/tiny_starcoder_py', file: 'model.safetensors',
    description: 'A small model (164 million parameters) trained only on Python, with fill-in-the-middle. '
      + 'Three files: the weights, config.json and tokenizer.json.',
  }),
]);

/** What the page says about a model's view of the code. */
export const FIM_LABEL = Object.freeze({
  yes: 'trained for fill-in-the-middle: sees the code above and below',
  no: 'not trained for fill-in-the-middle: sees only the code above',
});

/** The two files a safetensors model needs next to its weights (GPT-BigCode / StarCoder family). */
export const SAFETENSORS_COMPANIONS = Object.freeze(['config.json', 'tokenizer.json']);

/** True when `name` (a file name, path or URL) is a safetensors weights file. */
export const isSafetensors = (name) => /\.safetensors$/i.test(String(name ?? '').split(/[?#]/)[0]);

/**
 * The addresses of a safetensors model's `config.json` and `tokenizer.json`: next to the weights at `url`
 * (in a Hub repository, `{base}/{repo}/resolve/main/config.json` for weights at the repository's top).
 */
export function companionUrls(url) {
  const [path, rest] = /^([^?#]*)(.*)$/.exec(String(url)).slice(1);
  const dir = path.slice(0, path.lastIndexOf('/') + 1);
  return { config_url: `${dir}config.json${rest}`, tokenizer_url: `${dir}tokenizer.json${rest}` };
}

/**
 * Sorts files chosen or dropped together: a GGUF file, or a safetensors model (a `.safetensors` weights file
 * with its config.json and tokenizer.json). Returns `{ok: true, model: {kind: 'gguf', file}}`,
 * `{ok: true, model: {kind: 'safetensors', file, config, tokenizer}}`, or `{ok: false, message}` naming what
 * is missing.
 */
export function localModelFiles(files) {
  const list = Array.from(files ?? []);
  const base = (f) => String(f?.name ?? '').split('/').pop();
  const gguf = list.find((f) => fileKind(base(f)) === 'gguf');
  if (gguf) return { ok: true, model: { kind: 'gguf', file: gguf } };
  const weights = list.filter((f) => isSafetensors(base(f)));
  const named = (wanted) => list.find((f) => base(f).toLowerCase() === wanted);
  const config = named('config.json');
  const tokenizer = named('tokenizer.json');
  if (weights.length === 0 && !config && !tokenizer) {
    const names = list.map(base).join(', ');
    return {
      ok: false,
      message: `${list.length === 1 ? 'This file is' : 'These files are'} not a model: ${names}. A model is a .gguf file, `
        + 'or a safetensors model chosen as three files together: model.safetensors, config.json and tokenizer.json.',
    };
  }
  if (weights.length > 1) {
    return { ok: false, message: `Choose one weights file, not ${weights.length} (${weights.map(base).join(', ')}): models split into several .safetensors files cannot be loaded here.` };
  }
  const missing = [weights.length ? '' : 'the weights (model.safetensors)', config ? '' : 'config.json', tokenizer ? '' : 'tokenizer.json'].filter(Boolean);
  if (missing.length) {
    const list2 = missing.length === 1 ? missing[0] : `${missing.slice(0, -1).join(', ')} and ${missing[missing.length - 1]}`;
    return {
      ok: false,
      message: `A safetensors model needs three files chosen together: model.safetensors, config.json and tokenizer.json. Missing: ${list2}. `
        + 'Choose or drop all three at once (they are in the model’s folder or Hugging Face repository).',
    };
  }
  return { ok: true, model: { kind: 'safetensors', file: weights[0], config, tokenizer } };
}

const COMPANION_MESSAGE = 'config.json and tokenizer.json are fetched from next to the weights: type the weights file (for example model.safetensors).';

/** `gguf`, `safetensors` (a safetensors model's files), or `other`, from a file name or URL. */
export function fileKind(name) {
  const base = String(name ?? '').split(/[?#]/)[0].split('/').pop().toLowerCase();
  if (base.endsWith('.gguf')) return 'gguf';
  if (base.endsWith('.safetensors') || base === 'model.safetensors.index.json'
    || /^(config|tokenizer|tokenizer_config|generation_config|special_tokens_map)\.json$/.test(base)) return 'safetensors';
  return 'other';
}

/**
 * The Hub base from the page's query (`?hub=<url>`, relative allowed), or the default.
 * @returns {{base: string, warning: string}}  `base` has no trailing slash.
 */
export function hubBase(search, pageHref) {
  const raw = new URLSearchParams(search || '').get('hub');
  if (raw === null || raw.trim() === '') return { base: DEFAULT_HUB, warning: '' };
  try {
    const url = new URL(raw.trim(), pageHref);
    if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new Error('not http');
    return { base: url.href.replace(/[?#].*$/, '').replace(/\/+$/, ''), warning: '' };
  } catch {
    return { base: DEFAULT_HUB, warning: `The hub address in this link (${raw}) is not a web address; using ${DEFAULT_HUB}.` };
  }
}

const REPO_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,95}\/[A-Za-z0-9][A-Za-z0-9._-]{0,95}$/;
const FILE_RE = /^[A-Za-z0-9._-]+(\/[A-Za-z0-9._-]+)*$/;
const encodePath = (path) => path.split('/').map(encodeURIComponent).join('/');

/** `{base}/{repo}/resolve/main/{file}`: the Hub's download address of one file. */
export function hubFileUrl(base, repo, file) {
  return `${String(base).replace(/\/+$/, '')}/${encodePath(repo)}/resolve/main/${encodePath(file)}`;
}

/**
 * A model the page can load, from what the user typed (repository id + file name, or one full https://
 * address). Returns `{ok: true, spec}` or `{ok: false, message}` with a message for the user.
 * spec: `{kind: 'hub', repo, file, key, name}` or `{kind: 'url', url, key, name}`; `key` goes in the URL hash.
 */
export function parseModelSource(repoText, fileText = '') {
  let repo = String(repoText ?? '').trim();
  let file = String(fileText ?? '').trim().replace(/^\/+/, '');
  if (repo === '') return { ok: false, message: 'Type a Hugging Face repository (owner/name) or a full https:// address.' };
  if (/^[a-z][a-z0-9+.-]*:/i.test(repo)) {
    let url;
    try { url = new URL(repo); } catch { return { ok: false, message: 'That address is not a valid web address.' }; }
    if (url.protocol !== 'https:') return { ok: false, message: 'Only https:// addresses can be downloaded.' };
    // A Hub page address (…/blob/main/file) becomes its download address (…/resolve/main/file).
    const hub = /^\/([^/]+\/[^/]+)\/(?:blob|resolve)\/main\/(.+)$/.exec(url.pathname);
    if ((url.hostname === 'huggingface.co' || url.hostname === 'hf.co') && hub) {
      repo = decodeURIComponent(hub[1]);
      file = decodeURIComponent(hub[2]);
    } else {
      if (fileKind(url.pathname) === 'safetensors' && !isSafetensors(url.pathname)) return { ok: false, message: COMPANION_MESSAGE };
      if (fileKind(url.pathname) !== 'gguf' && !isSafetensors(url.pathname)) {
        return { ok: false, message: 'The address must point to a .gguf or .safetensors file.' };
      }
      const name = decodeURIComponent(url.pathname.split('/').pop());
      return { ok: true, spec: { kind: 'url', url: url.href, key: url.href, name } };
    }
  }
  repo = repo.replace(/^\/+|\/+$/g, '');
  if (!REPO_RE.test(repo) || repo.includes('..')) {
    return { ok: false, message: 'Write the repository as owner/name, for example Qwen/Qwen2.5-Coder-0.5B-Instruct-GGUF.' };
  }
  if (file === '') return { ok: false, message: 'Type the name of the model file in that repository (.gguf, or model.safetensors).' };
  if (fileKind(file) === 'safetensors' && !isSafetensors(file)) return { ok: false, message: COMPANION_MESSAGE };
  if (!FILE_RE.test(file) || file.split('/').includes('..') || (fileKind(file) !== 'gguf' && !isSafetensors(file))) {
    return { ok: false, message: 'The file name must end in .gguf or .safetensors (letters, digits, dots, dashes and underscores).' };
  }
  return { ok: true, spec: { kind: 'hub', repo, file, key: `${repo}/${file}`, name: `${file.split('/').pop()} (${repo})` } };
}

/**
 * The model named by a URL hash's `model=` value: a catalog key, `owner/repo/file.gguf`, or an https address.
 * Returns `{ok: true, spec}` (a catalog spec is `{kind: 'catalog', entry, key, name}`) or `{ok: false, message}`.
 */
export function specFromKey(key) {
  const k = String(key ?? '').trim();
  const entry = CATALOG.find((m) => m.key === k);
  if (entry) {
    if (entry.unavailable) return { ok: false, message: `${entry.name} cannot be loaded yet (${entry.unavailable}).` };
    return { ok: true, spec: { kind: 'catalog', entry, key: entry.key, name: entry.name } };
  }
  if (/^https:/i.test(k)) return parseModelSource(k);
  const parts = k.split('/');
  if (parts.length >= 3) return parseModelSource(parts.slice(0, 2).join('/'), parts.slice(2).join('/'));
  return { ok: false, message: `This page does not know a model called “${k}”.` };
}

/** The address the worker downloads a spec from (catalog entries on the Hub use `hub`). */
export function specUrl(spec, hub = DEFAULT_HUB) {
  if (spec.kind === 'catalog') return spec.entry.url ?? hubFileUrl(hub, spec.entry.repo, spec.entry.file);
  if (spec.kind === 'hub') return hubFileUrl(hub, spec.repo, spec.file);
  return spec.url ?? '';
}

/** Line modes: "single" stops at the end of the line, "multi" may write several lines. */
export const MODES = Object.freeze(['single', 'multi']);

/** @type {Readonly<Settings>} */
export const DEFAULT_SETTINGS = Object.freeze({
  beams: 5, max_new_tokens: 48, mode: 'single',
  sample: false, temperature: 0.8, top_k: 0, top_p: 0.95, seed: 0,
  format: 'auto', context: 'file', rerank: 1, heal: true, constrain: true,
});

/** Prompt layouts: `auto` follows the model's FIM tokens; `none` shows only the code above the hole. */
export const FORMATS = Object.freeze(['auto', 'psm', 'spm', 'none', 'fence']);
/** What the model sees: the whole file, or the function around the hidden line. */
export const CONTEXTS = Object.freeze(['file', 'function']);

/** Bounds the page enforces on settings before sending them. */
export const LIMITS = Object.freeze({
  beams: Object.freeze({ min: 1, max: 8 }),
  max_new_tokens: Object.freeze({ min: 1, max: 256 }),
  top_k: Object.freeze({ min: 0, max: 1000 }),
  seed: Object.freeze({ min: 0, max: 2 ** 31 - 1 }),
  rerank: Object.freeze({ min: 0, max: 8 }),
});

/** Special tokens in a prompt, e.g. `<fim_prefix>`, `<|im_start|>`, `<｜fim▁begin｜>`. */
export const SPECIAL_TOKEN_RE = /<\|?[a-z_▁｜]+\|?>/g;

/**
 * @typedef {Object} Settings
 * @property {number} beams           1–8; 1 means greedy decoding.
 * @property {number} max_new_tokens  Upper bound on generated tokens.
 * @property {'single'|'multi'} mode  "multi" lets the model write several lines.
 * @property {boolean} sample          Draw samples (temperature, top_k, top_p, seed) instead of beam search.
 * @property {number} temperature      > 0, at most 2 here.
 * @property {number} top_k            0 keeps every token.
 * @property {number} top_p            0 < p <= 1.
 * @property {number} seed             Same seed, same samples.
 * @property {'auto'|'psm'|'spm'|'none'|'fence'} format  Prompt layout.
 * @property {'file'|'function'} context  What the model sees.
 * @property {number} rerank           Suffix lines used to rerank beams (models without FIM tokens); 0 off.
 * @property {boolean} heal            Token healing.
 * @property {boolean} constrain       Python line rules on the first line.
 */

/**
 * @typedef {{kind: 'load', id: number, url: string, name: string, requantize: boolean, file?: Blob,
 *   config_url?: string, tokenizer_url?: string, config_file?: Blob, tokenizer_file?: Blob}} LoadRequest
 *   `requantize`: re-encode Q4_1/Q5_x weights to Q8_0 at load (faster decoding); default true.
 *   `file`: a local File/Blob to load instead of downloading `url` (read with `arrayBuffer()`, never cached).
 *   A safetensors model (GPT-BigCode): `url`/`file` are its weights, and `config_url` + `tokenizer_url` (or, for
 *   local files, `config_file` + `tokenizer_file`) its config.json and tokenizer.json. Downloaded files are cached
 *   each under its own address; the `cache` event lists the three as one entry under the weights' address, and
 *   `cache_delete` of that address deletes all three.
 *   A `load` while a model is loaded replaces it; a `load` while another is still downloading cancels that
 *   download (the cancelled load gets no answer). If a load fails and the previous model is still in memory,
 *   the worker re-sends that model's `loaded` event (with its original id) right after the `error`.
 * @typedef {{kind: 'cache_list', id: number}} CacheListRequest
 *   Answered by a `cache` event.
 * @typedef {{kind: 'cache_delete', id: number, url: string}} CacheDeleteRequest
 *   Deletes the stored file for `url` (the `url` of a `cache` entry); answered by a fresh `cache` event.
 * @typedef {{kind: 'complete', id: number, code: string, line: number, settings: Settings}} CompleteRequest
 * @typedef {{kind: 'read_ahead', id: number, code: string, settings: Settings}} ReadAheadRequest
 *   `line` is 1-based.
 * @typedef {{kind: 'cancel', id: number}} CancelRequest
 *   Stops the completion `id` within one step, or the download of the load `id` (answered by an `error` saying
 *   the user stopped it, then the `loaded` event of the model still in memory, if any).
 * @typedef {{kind: 'score', id: number, pairs: {hypothesis: string, reference: string}[],
 *   corpora?: {hypotheses: string[], references: string[]}[]}} ScoreRequest
 *   Answered by {kind: 'scored', id, scores: Scores[], corpora: {corpus_chrf, corpus_bleu}[]}.
 * @typedef {{path: string, bytes: Uint8Array}} SourceFile  a file, its path relative to the chosen folder
 * @typedef {{kind: 'dataset', id: number, files: SourceFile[], builtin?: 'easy40', jsonl?: string, seed: number,
 *   mode: 'one_random'|'every_line', context: 'function'|'file', max_file_bytes?: number}} DatasetRequest
 *   Tasks from files with the CLI's dataset code (`infill dataset DIR --seed N`): the same files and settings
 *   give byte-identical tasks. `builtin` ignores the files and options; so does `jsonl` (tasks already made, read
 *   as `infill eval --data` reads them, in file order). Answered at once by a `dataset` event (or an `error`).
 * @typedef {{name: string, pairs: {hypothesis: string, reference: string}[]}} SummaryGroup
 * @typedef {{kind: 'summarize', id: number, groups: SummaryGroup[], seed?: number}} SummarizeRequest
 *   The `infill eval` summary of each group (scores recomputed from the pairs, bootstrap seed 0 by default).
 *   Answered at once by a `summary` event.
 * @typedef {LoadRequest|CompleteRequest|ReadAheadRequest|CancelRequest|ScoreRequest|CacheListRequest|CacheDeleteRequest|DatasetRequest|SummarizeRequest} Request
 */

/**
 * @typedef {Object} ModelInfo
 * @property {string} name
 * @property {string} architecture   e.g. "llama"
 * @property {number} vocab_size
 * @property {number} file_bytes
 * @property {string} fim_format     "none" for a model without FIM tokens (it sees only the code above).
 * @property {boolean} requantized   True when Q4_1/Q5_x weights were re-encoded to Q8_0 at load.
 */

/**
 * @typedef {Object} BeamView
 * @property {string} text       The beam's completion text so far.
 * @property {number} score      Sum of token log-probabilities (divided by length once finished).
 * @property {boolean} finished
 */

/**
 * @typedef {Object} Scores
 * @property {number|boolean} exact           0/1
 * @property {number|boolean} exact_stripped  0/1, ignoring surrounding whitespace
 * @property {number} chrf      0–100
 * @property {number} chrf_pp   0–100
 * @property {number} bleu      0–100
 * @property {number} wer       fraction, lower is better, can exceed 1
 * @property {number} iou       0–1
 * @property {number} edit_sim  0–1
 */

/**
 * @typedef {Object} RunStats
 * @property {number} prompt_tokens
 * @property {number} generated_tokens
 * @property {number} first_token_ms
 * @property {number} total_ms
 * @property {number} tokens_per_second
 */

/**
 * @typedef {Object} CompletionReport
 * @property {string} completion
 * @property {string} target
 * @property {BeamView[]} beams
 * @property {Scores} scores
 * @property {number|null} cosine   0–1, or null when not computed
 * @property {RunStats} stats
 */

/**
 * @typedef {{kind: 'ready'}} ReadyEvent
 * @typedef {{kind: 'progress', id: number, loaded: number, total: number, note?: string}} ProgressEvent
 *   total 0 if unknown; `note`: something to tell the user (served from storage, connection dropped, resuming).
 * @typedef {{kind: 'loaded', id: number, model: ModelInfo}} LoadedEvent
 * @typedef {{kind: 'started', id: number, prompt: string, prompt_tokens: number, note?: string}} StartedEvent
 *   `note`: something the user should know about the code (it is not valid Python 3, so the model reads it as it is).
 * @typedef {{kind: 'beams', id: number, step: number, read: number, beams: BeamView[]}} BeamsEvent  best first;
 *   `read`: prompt tokens read so far (a long prompt is read a piece per event, with no beams yet)
 * @typedef {{kind: 'read_ahead', id: number, read: number, total: number, done: boolean}} ReadAheadEvent
 *   how far reading the code ahead got (prompt tokens); `done`: it stopped (all it reads is read, another
 *   request came, or there was nothing to read)
 * @typedef {{kind: 'done', id: number, result: CompletionReport}} DoneEvent
 * @typedef {{kind: 'cancelled', id: number}} CancelledEvent
 * @typedef {{kind: 'error', id: number|null, message: string}} ErrorEvent
 * @typedef {{url: string, name: string, bytes: number}} CacheEntry  one stored model file
 * @typedef {{kind: 'cache', id: number, entries: CacheEntry[], quota: number|null}} CacheEvent
 *   The stored model files; `quota`: bytes the browser lets this site store, when it says.
 * @typedef {{id: string, path: string, function: string, start_line: number, end_line: number,
 *   masked_line: number, prefix: string, middle: string, suffix: string}} Task  one masked line (src/dataset)
 * @typedef {{kind: 'dataset', id: number, tasks: Task[], skipped: {path: string, reason: string}[],
 *   files_read: number, functions: number,
 *   config: {seed: number, mode: string, context: string, max_file_bytes: number}}} DatasetEvent
 * @typedef {{metric: string, value: {mean: number, low: number, high: number}}} SummaryRow
 * @typedef {{count: number, rows: SummaryRow[], corpus_chrf: number, corpus_bleu: number}} Summary
 * @typedef {{kind: 'summary', id: number, summaries: {name: string, summary: Summary}[]}} SummaryEvent
 * @typedef {ReadyEvent|ProgressEvent|LoadedEvent|StartedEvent|BeamsEvent|ReadAheadEvent|DoneEvent|CancelledEvent|ErrorEvent|CacheEvent|DatasetEvent|SummaryEvent} WorkerEvent
 */

function clampInt(value, { min, max }, fallback) {
  const n = Math.round(Number(value));
  if (!Number.isFinite(n)) return fallback;
  return Math.min(max, Math.max(min, n));
}

/**
 * Returns valid settings from anything (user input, a URL hash), falling back to the defaults.
 * @param {Partial<Settings>|undefined} s
 * @returns {Settings}
 */
export function normalizeSettings(s = {}) {
  return {
    beams: clampInt(s.beams, LIMITS.beams, DEFAULT_SETTINGS.beams),
    max_new_tokens: clampInt(s.max_new_tokens, LIMITS.max_new_tokens, DEFAULT_SETTINGS.max_new_tokens),
    mode: MODES.includes(s.mode) ? s.mode : DEFAULT_SETTINGS.mode,
    sample: bool(s.sample, DEFAULT_SETTINGS.sample),
    temperature: clampFloat(s.temperature, 0.05, 2, DEFAULT_SETTINGS.temperature),
    top_k: clampInt(s.top_k, LIMITS.top_k, DEFAULT_SETTINGS.top_k),
    top_p: clampFloat(s.top_p, 0.01, 1, DEFAULT_SETTINGS.top_p),
    seed: clampInt(s.seed, LIMITS.seed, DEFAULT_SETTINGS.seed),
    format: FORMATS.includes(s.format) ? s.format : DEFAULT_SETTINGS.format,
    context: CONTEXTS.includes(s.context) ? s.context : DEFAULT_SETTINGS.context,
    rerank: clampInt(s.rerank, LIMITS.rerank, DEFAULT_SETTINGS.rerank),
    heal: bool(s.heal, DEFAULT_SETTINGS.heal),
    constrain: bool(s.constrain, DEFAULT_SETTINGS.constrain),
  };
}

function clampFloat(value, min, max, fallback) {
  const n = Number(value);
  if (value === '' || value === null || !Number.isFinite(n)) return fallback;
  return Math.min(max, Math.max(min, n));
}

/** Booleans from checkboxes (true/false) and URLs ('1'/'0'). */
function bool(value, fallback) {
  if (value === true || value === '1' || value === 'true') return true;
  if (value === false || value === '0' || value === 'false') return false;
  return fallback;
}

/** @returns {LoadRequest} `file` (a File/Blob) is set only for a local file. */
export function loadRequest(id, url = DEFAULT_MODEL.url, name = DEFAULT_MODEL.name, requantize = true, file = undefined,
  companions = undefined) {
  const request = { kind: REQ.LOAD, id, url: String(url), name: String(name), requantize: Boolean(requantize) };
  if (file) request.file = file;
  if (companions) {
    request.config_url = String(companions.config_url ?? '');
    request.tokenizer_url = String(companions.tokenizer_url ?? '');
    if (companions.config_file) request.config_file = companions.config_file;
    if (companions.tokenizer_file) request.tokenizer_file = companions.tokenizer_file;
  }
  return request;
}

/** @returns {CacheListRequest} */
export function cacheListRequest(id) {
  return { kind: REQ.CACHE_LIST, id };
}

/** @returns {CacheDeleteRequest} */
export function cacheDeleteRequest(id, url) {
  return { kind: REQ.CACHE_DELETE, id, url: String(url) };
}

/**
 * @param {number} id
 * @param {string} code
 * @param {number} line  1-based
 * @param {Partial<Settings>} settings
 * @returns {CompleteRequest}
 */
export function completeRequest(id, code, line, settings) {
  return { kind: REQ.COMPLETE, id, code: String(code), line: Number(line), settings: normalizeSettings(settings) };
}

/**
 * @param {number} id
 * @param {string} code
 * @param {Partial<Settings>} settings  those the next `complete` will use
 * @returns {ReadAheadRequest}
 */
export function readAheadRequest(id, code, settings) {
  return { kind: REQ.READ_AHEAD, id, code: String(code), settings: normalizeSettings(settings) };
}

/** @returns {CancelRequest} */
export function cancelRequest(id) {
  return { kind: REQ.CANCEL, id };
}

/** True when `data` looks like a worker event (an object with a known `kind`). */
export function isWorkerEvent(data) {
  return data !== null && typeof data === 'object' && Object.values(EV).includes(data.kind);
}

/**
 * @param {number} id
 * @param {{files?: SourceFile[], builtin?: string, jsonl?: string, seed?: number, everyLine?: boolean, context?: string}} options
 * @returns {DatasetRequest}
 */
export function datasetRequest(id, { files = [], builtin, jsonl, seed = 0, everyLine = false, context = 'function' } = {}) {
  const request = {
    kind: REQ.DATASET, id, files, seed: Number(seed) || 0,
    mode: everyLine ? 'every_line' : 'one_random', context: context === 'file' ? 'file' : 'function',
  };
  if (builtin) request.builtin = String(builtin);
  if (typeof jsonl === 'string') request.jsonl = jsonl;
  return request;
}

/** @returns {SummarizeRequest} */
export function summarizeRequest(id, groups, seed = 0) {
  return { kind: REQ.SUMMARIZE, id, groups, seed };
}
