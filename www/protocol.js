// The message protocol between the page (app.js) and the worker (worker.js + the wasm engine).
// It mirrors src/protocol.rs; keep the two in step. Plain data only: no DOM, no side effects.

/** Request kinds, page → worker. */
export const REQ = Object.freeze({
  LOAD: 'load',
  COMPLETE: 'complete',
  CANCEL: 'cancel',
  SCORE: 'score',
});

/** Event kinds, worker → page. */
export const EV = Object.freeze({
  READY: 'ready',
  PROGRESS: 'progress',
  LOADED: 'loaded',
  STARTED: 'started',
  BEAMS: 'beams',
  DONE: 'done',
  CANCELLED: 'cancelled',
  SCORED: 'scored',
  ERROR: 'error',
});

/** The model the page loads as soon as the worker says `ready`. */
export const DEFAULT_MODEL = Object.freeze({
  url: './models/SmolLM2-135M-Instruct.Q4_1.gguf',
  name: 'SmolLM2-135M-Instruct (Q4_1)',
});

/** Line modes: "single" stops at the end of the line, "multi" may write several lines. */
export const MODES = Object.freeze(['single', 'multi']);

/** @type {Readonly<Settings>} */
export const DEFAULT_SETTINGS = Object.freeze({ beams: 5, max_new_tokens: 48, mode: 'single' });

/** Bounds the page enforces on settings before sending them. */
export const LIMITS = Object.freeze({
  beams: Object.freeze({ min: 1, max: 8 }),
  max_new_tokens: Object.freeze({ min: 1, max: 256 }),
});

/** Special tokens in a prompt, e.g. `<fim_prefix>`, `<|im_start|>`, `<｜fim▁begin｜>`. */
export const SPECIAL_TOKEN_RE = /<\|?[a-z_▁｜]+\|?>/g;

/**
 * @typedef {Object} Settings
 * @property {number} beams           1–8; 1 means greedy decoding.
 * @property {number} max_new_tokens  Upper bound on generated tokens.
 * @property {'single'|'multi'} mode  "multi" lets the model write several lines.
 */

/**
 * @typedef {{kind: 'load', id: number, url: string, name: string, requantize: boolean}} LoadRequest
 *   `requantize`: re-encode Q4_1/Q5_x weights to Q8_0 at load (faster decoding); default true.
 * @typedef {{kind: 'complete', id: number, code: string, line: number, settings: Settings}} CompleteRequest
 *   `line` is 1-based.
 * @typedef {{kind: 'cancel', id: number}} CancelRequest
 * @typedef {{kind: 'score', id: number, pairs: {hypothesis: string, reference: string}[],
 *   corpora?: {hypotheses: string[], references: string[]}[]}} ScoreRequest
 *   Answered by {kind: 'scored', id, scores: Scores[], corpora: {corpus_chrf, corpus_bleu}[]}.
 * @typedef {LoadRequest|CompleteRequest|CancelRequest} Request
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
 * @typedef {{kind: 'progress', id: number, loaded: number, total: number}} ProgressEvent  total 0 if unknown
 * @typedef {{kind: 'loaded', id: number, model: ModelInfo}} LoadedEvent
 * @typedef {{kind: 'started', id: number, prompt: string, prompt_tokens: number}} StartedEvent
 * @typedef {{kind: 'beams', id: number, step: number, beams: BeamView[]}} BeamsEvent  best first
 * @typedef {{kind: 'done', id: number, result: CompletionReport}} DoneEvent
 * @typedef {{kind: 'cancelled', id: number}} CancelledEvent
 * @typedef {{kind: 'error', id: number|null, message: string}} ErrorEvent
 * @typedef {ReadyEvent|ProgressEvent|LoadedEvent|StartedEvent|BeamsEvent|DoneEvent|CancelledEvent|ErrorEvent} WorkerEvent
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
  };
}

/** @returns {LoadRequest} */
export function loadRequest(id, url = DEFAULT_MODEL.url, name = DEFAULT_MODEL.name, requantize = true) {
  return { kind: REQ.LOAD, id, url: String(url), name: String(name), requantize: Boolean(requantize) };
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

/** @returns {CancelRequest} */
export function cancelRequest(id) {
  return { kind: REQ.CANCEL, id };
}

/** True when `data` looks like a worker event (an object with a known `kind`). */
export function isWorkerEvent(data) {
  return data !== null && typeof data === 'object' && Object.values(EV).includes(data.kind);
}
