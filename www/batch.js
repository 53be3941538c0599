// Batch evaluation: a folder of Python (chosen, dropped, or the built-in Easy 40) becomes masked-line tasks in
// the worker (src/web/batch.rs, the same code as `infill dataset`), or tasks come ready-made as JSON Lines (read
// there with the reader `infill eval --data` uses, e.g. HumanEval from scripts/gen_humaneval.py); the tasks run
// over the model the page has loaded, with the playground's settings, as ordinary `complete` requests (code = prefix + middle +
// suffix, line = newlines in prefix + 1, exactly as `infill eval` does). While a run goes on, extra engines (workers of
// their own, each with its own copy of the model: one per CPU core up to four, by default) take tasks side by side
// with the page's worker; a task's result does not depend on which engine ran it. Every finished task is stored in
// IndexedDB at once, so a reload, a closed tab or a crash loses no finished task and the run goes on where it
// stopped. The report (summary with 95% bootstrap intervals, corpus chrF/BLEU) comes from the worker too
// (src/report.rs, the numbers `infill eval` prints).
//
// app.js owns the worker: it calls attach() once with a few hooks, offers every worker event to handleEvent()
// first, and calls refresh() whenever its own state changes (model loaded, worker restarted).
//
// Security rule for this file, as for app.js: file names, code, completions and messages reach the DOM only
// through textContent / createElement (also in the exported HTML report). Never innerHTML & co.

import { EV, completeRequest, cancelRequest, datasetRequest, summarizeRequest, loadRequest, isWorkerEvent } from './protocol.js';

// ---------------------------------------------------------------------------------------------------------
// Pure helpers (exported for the tests)

/** The metrics of a task, in the order of `infill eval`'s summary, then cosine. */
export const METRICS = Object.freeze([
  { key: 'exact', name: 'Exact match', short: 'exact', digits: 0, lo: 0, hi: 1, binary: true },
  { key: 'exact_stripped', name: 'Exact, ignoring edge spaces', short: 'exact (strip)', digits: 0, lo: 0, hi: 1, binary: true },
  { key: 'chrf', name: 'chrF', short: 'chrF', digits: 2, lo: 0, hi: 100 },
  { key: 'chrf_pp', name: 'chrF++', short: 'chrF++', digits: 2, lo: 0, hi: 100 },
  { key: 'bleu', name: 'BLEU', short: 'BLEU', digits: 2, lo: 0, hi: 100 },
  { key: 'wer', name: 'Word error rate (lower is better)', short: 'WER', digits: 3, lo: 0, hi: 1, lowerIsBetter: true },
  { key: 'iou', name: 'Token overlap (IoU)', short: 'IoU', digits: 3, lo: 0, hi: 1 },
  { key: 'edit_sim', name: 'Edit similarity', short: 'edit sim.', digits: 3, lo: 0, hi: 1 },
  { key: 'cosine', name: 'Cosine similarity', short: 'cosine', digits: 3, lo: 0, hi: 1 },
]);
const SCORE_KEYS = METRICS.filter((m) => m.key !== 'cosine').map((m) => m.key);

/**
 * One CSV cell. Text that a spreadsheet would run as a formula (starting with = + - @, a tab or a carriage
 * return) gets a leading single quote; cells with commas, quotes, line breaks or edge spaces are quoted.
 * Numbers are written as numbers.
 */
export function csvCell(value) {
  if (value === null || value === undefined) return '';
  if (typeof value === 'number') return Number.isFinite(value) ? String(value) : '';
  let s = String(value);
  if (/^[=+\-@\t\r]/.test(s)) s = `'${s}`;
  if (/[",\r\n]/.test(s) || s !== s.trim()) s = `"${s.replace(/"/g, '""')}"`;
  return s;
}

/** CSV text (RFC 4180: CRLF line ends) from a header and rows of values, with a UTF-8 byte order mark. */
export function toCsv(header, rows) {
  return `\ufeff${[header, ...rows].map((r) => r.map(csvCell).join(',')).join('\r\n')}\r\n`;
}

/** The columns of the CSV export. */
export const CSV_COLUMNS = Object.freeze(['index', 'id', 'path', 'function', 'start_line', 'end_line', 'masked_line',
  'middle', 'completion', ...METRICS.map((m) => m.key), 'generated_tokens', 'prompt_tokens', 'ms', 'error']);

/**
 * The record `infill eval` prints for a task: the task's fields but `prefix` and `suffix`, its `index`, the
 * completion, `generated_tokens`, `ms`, `prompt_tokens`, `cached_tokens` (when the engine reports it), every
 * score and `cosine`; or `error`. Keys sorted, as serde_json writes them.
 */
export function evalRecord(r) {
  const rec = {
    id: r.id, path: r.path, function: r.function, start_line: r.start_line, end_line: r.end_line,
    masked_line: r.masked_line, middle: r.middle, index: r.index,
  };
  if (r.error !== undefined && r.error !== null) {
    rec.error = r.error;
  } else {
    rec.completion = r.completion;
    rec.generated_tokens = r.stats?.generated_tokens ?? 0;
    rec.ms = r.stats?.total_ms ?? 0;
    if (Number.isFinite(r.stats?.prompt_tokens)) rec.prompt_tokens = r.stats.prompt_tokens;
    if (Number.isFinite(r.stats?.cached_tokens)) rec.cached_tokens = r.stats.cached_tokens;
    for (const k of SCORE_KEYS) rec[k] = r.scores?.[k];
    rec.cosine = r.cosine ?? null;
  }
  return Object.fromEntries(Object.keys(rec).sort().map((k) => [k, rec[k]]));
}

/** The value of metric `key` for a stored result (null if none). */
export function metricValue(r, key) {
  const v = key === 'cosine' ? r.cosine : r.scores?.[key];
  if (v === true) return 1;
  if (v === false) return 0;
  return typeof v === 'number' && Number.isFinite(v) ? v : null;
}

/** Strips the chosen folder's own name from a `webkitRelativePath` (`folder/a/b.py` → `a/b.py`). */
export function relativePath(webkitRelativePath, name) {
  const p = String(webkitRelativePath || '');
  if (!p) return String(name);
  const slash = p.indexOf('/');
  return slash >= 0 ? p.slice(slash + 1) : p;
}

/** Counts per bin of `values` between lo and hi (`bins` equal bins; the last one includes hi). */
export function histogram(values, lo, hi, bins) {
  const counts = new Array(bins).fill(0);
  const width = (hi - lo) / bins || 1;
  for (const v of values) {
    const i = Math.min(bins - 1, Math.max(0, Math.floor((v - lo) / width)));
    counts[i] += 1;
  }
  return counts;
}

// ---------------------------------------------------------------------------------------------------------
// DOM helpers

const $ = (id) => document.getElementById(id);

function el(tag, className, text, doc = document) {
  const node = doc.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined && text !== null) node.textContent = String(text);
  return node;
}

const SVG = 'http://www.w3.org/2000/svg';
function svgEl(doc, tag, attrs = {}, text) {
  const node = doc.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  if (text !== undefined) node.textContent = String(text);
  return node;
}

function testid(node, id) {
  node.dataset.testid = id;
  return node;
}

const fmtInt = new Intl.NumberFormat('en-US');

function fmtMetric(m, v) {
  if (v === null || v === undefined || !Number.isFinite(v)) return '–';
  return m.binary && Number.isInteger(v) ? String(v) : v.toFixed(m.binary ? 3 : m.digits);
}

function fmtDuration(seconds) {
  if (!Number.isFinite(seconds) || seconds < 0) return '';
  if (seconds < 60) return `${Math.max(1, Math.round(seconds))} s`;
  const min = Math.round(seconds / 60);
  return min < 60 ? `${min} min` : `${Math.floor(min / 60)} h ${min % 60} min`;
}

function settingsText(s) {
  if (!s) return '';
  const parts = [`${s.beams} beam${s.beams === 1 ? '' : 's'}${s.beams === 1 && !s.sample ? ' (greedy)' : ''}`,
    s.mode === 'multi' ? 'several lines' : 'one line', `up to ${s.max_new_tokens} new tokens`];
  if (s.sample) parts.push(`sampling (temperature ${s.temperature}, seed ${s.seed})`);
  if (s.format && s.format !== 'auto') parts.push(`prompt layout ${s.format}`);
  if (Number(s.rerank) > 0) parts.push(`reranked by the next ${s.rerank} line${Number(s.rerank) === 1 ? '' : 's'}`);
  if (s.heal === false) parts.push('no token healing');
  if (s.constrain === false) parts.push('no line rules');
  return parts.join(' · ');
}

function download(name, type, text) {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const a = el('a');
  a.href = url;
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

const fileStem = (run) => `infill-${String(run.label).replace(/[^\w.-]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 60)}-${run.id.slice(-6)}`;

// ---------------------------------------------------------------------------------------------------------
// Storage: IndexedDB (runs, and results keyed by [run, index]); in memory when the browser refuses it.

const DB_NAME = 'infill-batch';
const DB_VERSION = 1;

const idbRequest = (r) => new Promise((resolve, reject) => {
  r.onsuccess = () => resolve(r.result);
  r.onerror = () => reject(r.error);
});
const idbDone = (tx) => new Promise((resolve, reject) => {
  tx.oncomplete = () => resolve();
  tx.onerror = () => reject(tx.error);
  tx.onabort = () => reject(tx.error ?? new Error('the transaction was aborted'));
});

const store = {
  db: null,
  memory: null, // {runs: Map, results: Map} when IndexedDB is unavailable

  async open() {
    try {
      if (!self.indexedDB) throw new Error('no IndexedDB');
      const open = indexedDB.open(DB_NAME, DB_VERSION);
      open.onupgradeneeded = () => {
        const db = open.result;
        if (!db.objectStoreNames.contains('runs')) db.createObjectStore('runs', { keyPath: 'id' });
        if (!db.objectStoreNames.contains('results')) db.createObjectStore('results', { keyPath: ['run', 'index'] });
      };
      this.db = await idbRequest(open);
      return '';
    } catch (e) {
      this.memory = { runs: new Map(), results: new Map() };
      return `This browser does not let the page store results (${e?.message ?? e}): a reload will lose the runs.`;
    }
  },

  async runs() {
    if (this.memory) return [...this.memory.runs.values()];
    return idbRequest(this.db.transaction('runs').objectStore('runs').getAll());
  },

  async putRun(run) {
    if (this.memory) { this.memory.runs.set(run.id, structuredClone(run)); return; }
    const tx = this.db.transaction('runs', 'readwrite');
    tx.objectStore('runs').put(run);
    await idbDone(tx);
  },

  async putResult(result) {
    if (this.memory) { this.memory.results.set(`${result.run}\u0000${result.index}`, structuredClone(result)); return; }
    const tx = this.db.transaction('results', 'readwrite');
    tx.objectStore('results').put(result);
    await idbDone(tx);
  },

  async results(runId) {
    if (this.memory) return [...this.memory.results.values()].filter((r) => r.run === runId);
    const range = IDBKeyRange.bound([runId, -Infinity], [runId, Infinity]);
    return idbRequest(this.db.transaction('results').objectStore('results').getAll(range));
  },

  async deleteRun(runId) {
    if (this.memory) {
      this.memory.runs.delete(runId);
      for (const [k, r] of this.memory.results) if (r.run === runId) this.memory.results.delete(k);
      return;
    }
    const tx = this.db.transaction(['runs', 'results'], 'readwrite');
    tx.objectStore('runs').delete(runId);
    tx.objectStore('results').delete(IDBKeyRange.bound([runId, -Infinity], [runId, Infinity]));
    await idbDone(tx);
  },
};

// ---------------------------------------------------------------------------------------------------------
// State

const B = {
  hooks: null,
  ui: null,
  ready: false,                 // storage opened and runs listed
  requests: new Map(),          // request id → what it was for ({kind: 'dataset'|'summary'|'task'|'compare', ...})
  source: null,                 // {kind: 'files'|'easy40', name, files: [{path, bytes}], ignored, unreadable: [{path, reason}]}
  preview: null,                // the last `dataset` event (plus the source it was built from)
  previewing: 0,                // id of the dataset request in flight
  runs: new Map(),              // run id → run record
  results: new Map(),           // run id → Map(index → result), loaded on demand
  view: null,                   // id of the run shown
  active: null,                 // the running run: {run, inflight: Map(id → task in flight), sessionStart, sessionDone, crashes: Map, note, next}
  helpers: [],                  // extra engines of the active run: {worker, source, loadId, loaded, inflight}
  helperCap: Infinity,          // after an extra engine failed: how many the run keeps using
  helperNote: '',               // why the run uses fewer engines than it asked for
  summary: null,                // {runId, all, files: Map(path → Summary)} of the run shown
  summaryTimer: 0,
  summaryPending: false,
  renderTimer: 0,
  table: { key: 'index', dir: 1, filter: '', show: 'all' },
  detail: null,                 // index of the task shown in the detail view
  storageNote: '',
};

const runResults = (runId) => {
  if (!B.results.has(runId)) B.results.set(runId, new Map());
  return B.results.get(runId);
};

/** Sends a request to the page's worker, or to an extra engine (`helper`), remembering what it is for. */
function post(msg, purpose, helper = null) {
  B.requests.set(msg.id, purpose);
  if (!helper) return B.hooks.post(msg);
  try {
    helper.worker.postMessage(msg);
    return true;
  } catch (e) {
    helperFailed(helper, `an extra engine could not be given a task: ${e?.message ?? e}`);
    return false;
  }
}

// ---------------------------------------------------------------------------------------------------------
// Input: a folder (input or drop) or Easy 40, then the preview

function showNote(text, tone = '') {
  const p = B.ui.preview;
  p.hidden = false;
  p.replaceChildren(el('p', `batch-note ${tone}`, text));
}

async function readFiles(entries, name) {
  // entries: [{path, file}] — every file found; only *.py are read, as `infill dataset` does.
  const py = entries.filter((e) => e.path.endsWith('.py'));
  const ignored = entries.length - py.length;
  showNote(`Reading ${fmtInt.format(py.length)} Python file${py.length === 1 ? '' : 's'}…`);
  const files = [];
  const unreadable = [];
  let i = 0;
  const next = async () => {
    while (i < py.length) {
      const e = py[i++];
      try {
        files.push({ path: e.path, bytes: new Uint8Array(await e.file.arrayBuffer()) });
      } catch (err) {
        unreadable.push({ path: e.path, reason: `the browser could not read the file: ${err?.message ?? err}` });
      }
    }
  };
  await Promise.all([next(), next(), next(), next()]);
  B.source = { kind: 'files', name, files, ignored, unreadable };
  B.preview = null;
  buildPreview();
}

function buildPreview() {
  if (!B.source) return;
  if (!B.hooks.ready()) {
    showNote('The engine is still starting; the tasks will be built as soon as it is ready.');
    return;
  }
  const id = B.hooks.nextId();
  B.previewing = id;
  const options = readOptions();
  B.previewOptions = JSON.stringify(options);
  const request = B.source.kind === 'easy40'
    ? datasetRequest(id, { builtin: 'easy40' })
    : B.source.kind === 'jsonl'
      ? datasetRequest(id, { jsonl: B.source.text })
      : datasetRequest(id, { files: B.source.files, seed: options.seed, everyLine: options.everyLine, context: options.context });
  showNote(B.source.kind === 'jsonl' ? 'Reading the tasks…' : 'Finding the functions and hiding lines…');
  post(request, { kind: 'dataset', source: B.source });
}

function readOptions() {
  const raw = Number(B.ui.seed.value);
  const seed = Number.isSafeInteger(raw) && raw >= 0 ? raw : 0;
  if (String(seed) !== B.ui.seed.value) B.ui.seed.value = String(seed);
  return { seed, everyLine: B.ui.mode.value === 'every_line', context: B.ui.context.value };
}

function onDataset(msg, source) {
  if (msg.id !== B.previewing) return;
  B.previewing = 0;
  const skipped = [...(source.unreadable ?? []), ...(Array.isArray(msg.skipped) ? msg.skipped : [])]
    .sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  B.preview = {
    source,
    tasks: Array.isArray(msg.tasks) ? msg.tasks : [],
    skipped,
    files: source.kind === 'easy40' ? 1 : source.kind === 'jsonl' ? Number(msg.files_read) || 0
      : source.files.length + (source.unreadable?.length ?? 0),
    filesRead: Number(msg.files_read) || 0,
    functions: Number(msg.functions) || 0,
    config: msg.config ?? {},
    ignored: source.ignored ?? 0,
  };
  renderPreview();
  refresh();
}

function renderPreview() {
  const p = B.preview;
  const box = B.ui.preview;
  box.hidden = false;
  box.replaceChildren();
  const title = el('h3', 'batch-sub', `Preview: ${p.source.name}`);
  const counts = el('dl', 'batch-counts');
  const count = (label, value, id) => {
    const d = el('div', 'batch-count');
    const dd = testid(el('dd', '', fmtInt.format(value)), `batch-count-${id}`);
    dd.dataset.value = String(value);
    d.append(el('dt', '', label), dd);
    counts.append(d);
  };
  if (p.source.kind === 'jsonl') {
    count('files named', p.files, 'files');
  } else {
    count('Python files', p.files, 'files');
    count('files read', p.filesRead, 'read');
  }
  count('functions', p.functions, 'functions');
  count('tasks', p.tasks.length, 'tasks');
  count('files skipped', p.skipped.length, 'skipped');
  const cfg = p.config;
  const how = p.source.kind === 'easy40'
    ? 'Easy 40: forty short textbook functions, one hidden line each (seed 0, the function as context).'
    : p.source.kind === 'jsonl'
      ? `Tasks imported as they are, in file order: the model sees each task's prefix and suffix, as \`infill eval --data ${p.source.name}\` runs them.`
      : `Seed ${cfg.seed}, ${cfg.mode === 'every_line' ? 'every line of each function' : 'one line per function'}, `
      + `the model sees ${cfg.context === 'file' ? 'the whole file' : 'the function'}. The same folder and seed give the same tasks as \`infill dataset\`.`;
  box.append(title, counts, el('p', 'card-help', how));
  if (p.ignored > 0) box.append(el('p', 'card-help', `${fmtInt.format(p.ignored)} other file${p.ignored === 1 ? '' : 's'} (not .py) ignored.`));
  if (p.skipped.length) {
    const details = el('details', 'batch-skipped');
    details.open = p.skipped.length <= 10;
    details.append(el('summary', '', `Skipped files and why (${p.skipped.length})`));
    const ul = testid(el('ul', 'batch-skipped-list'), 'batch-skipped');
    for (const s of p.skipped) {
      const li = el('li');
      li.append(el('code', '', s.path), document.createTextNode(`: ${s.reason}`));
      ul.append(li);
    }
    details.append(ul);
    box.append(details);
  }
  const actions = el('div', 'batch-actions');
  const start = testid(el('button', 'btn btn-primary', 'Run'), 'batch-start');
  start.type = 'button';
  start.id = 'batch-start';
  start.addEventListener('click', startRun);
  const tasksJsonl = testid(el('button', 'btn btn-small btn-ghost', 'Download the tasks (JSONL)'), 'batch-tasks-jsonl');
  tasksJsonl.type = 'button';
  tasksJsonl.addEventListener('click', () => {
    const text = p.tasks.map((t) => `${JSON.stringify(t)}\n`).join('');
    download(`infill-tasks-${p.source.name.replace(/[^\w.-]+/g, '-')}.jsonl`, 'application/x-ndjson', text);
  });
  const hint = testid(el('span', 'batch-hint'), 'batch-start-hint');
  hint.id = 'batch-start-hint';
  actions.append(start, tasksJsonl, hint);
  box.append(actions);
  refreshStart();
}

function refreshStart() {
  const start = $('batch-start');
  const hint = $('batch-start-hint');
  if (!start || !hint || !B.preview) return;
  const model = B.hooks.model();
  const settings = B.hooks.settings();
  const n = B.preview.tasks.length;
  let why = '';
  if (n === 0) why = 'There are no tasks to run.';
  else if (B.active) why = 'A run is in progress: pause or cancel it first.';
  else if (!model) why = 'The run can start once the model has loaded.';
  start.disabled = why !== '';
  start.textContent = `Run ${fmtInt.format(n)} task${n === 1 ? '' : 's'}`;
  hint.textContent = why || `with ${model.name} · ${settingsText(settings)} (the settings above)`;
}

/** Files and folders dropped on the drop zone, as [{path, file}] relative to the dropped folder. */
async function droppedFiles(entries, files) {
  const out = [];
  const readAll = (reader) => new Promise((resolve, reject) => {
    const all = [];
    const more = () => reader.readEntries((batch) => {
      if (batch.length === 0) resolve(all);
      else { all.push(...batch); more(); }
    }, reject);
    more();
  });
  const fileOf = (entry) => new Promise((resolve, reject) => entry.file(resolve, reject));
  const walk = async (entry, path) => {
    if (entry.isFile) out.push({ path, file: await fileOf(entry) });
    else if (entry.isDirectory) {
      for (const child of await readAll(entry.createReader())) await walk(child, path ? `${path}/${child.name}` : child.name);
    }
  };
  const usable = entries.filter(Boolean);
  if (usable.length === 0) return files.map((f) => ({ path: f.name, file: f }));
  if (usable.length === 1 && usable[0].isDirectory) await walk(usable[0], '');
  else for (const e of usable) await walk(e, e.name);
  return out;
}

function wireInput() {
  const ui = B.ui;
  ui.folder.addEventListener('change', () => {
    const list = [...(ui.folder.files ?? [])];
    ui.folder.value = '';
    if (!list.length) {
      showNote('That folder has no files in it: choose a folder that holds .py files.', 'is-bad');
      return;
    }
    const name = String(list[0].webkitRelativePath || '').split('/')[0] || 'chosen files';
    readFiles(list.map((f) => ({ path: relativePath(f.webkitRelativePath, f.name), file: f })), name);
  });
  ui.jsonl?.addEventListener('change', () => {
    const file = ui.jsonl.files?.[0];
    ui.jsonl.value = '';
    if (!file) return;
    showNote(`Reading ${file.name}…`);
    file.text().then((text) => {
      B.source = { kind: 'jsonl', name: file.name, text };
      B.preview = null;
      buildPreview();
    }, (err) => showNote(`${file.name} could not be read: ${err?.message ?? err}`, 'is-bad'));
  });
  ui.easy40.addEventListener('click', () => {
    B.source = { kind: 'easy40', name: 'Easy 40' };
    B.preview = null;
    buildPreview();
  });
  for (const input of [ui.seed, ui.mode, ui.context]) {
    // A change event also fires when the field loses focus, e.g. on a click on the preview's own buttons:
    // rebuild only when an option really changed, or that click would land on a removed button.
    input.addEventListener('change', () => {
      if (B.source?.kind === 'files' && JSON.stringify(readOptions()) !== B.previewOptions) buildPreview();
    });
  }
  // The drop zone keeps its drag events to itself, so the page-wide "drop a model file" overlay stays out of it.
  const drop = ui.drop;
  let depth = 0;
  const carriesFiles = (e) => Array.from(e.dataTransfer?.types ?? []).includes('Files');
  drop.addEventListener('dragenter', (e) => {
    if (!carriesFiles(e)) return;
    e.preventDefault(); e.stopPropagation();
    depth += 1;
    drop.classList.add('is-over');
  });
  drop.addEventListener('dragover', (e) => {
    if (!carriesFiles(e)) return;
    e.preventDefault(); e.stopPropagation();
    if (e.dataTransfer) e.dataTransfer.dropEffect = 'copy';
  });
  drop.addEventListener('dragleave', (e) => {
    if (!carriesFiles(e)) return;
    e.stopPropagation();
    depth = Math.max(0, depth - 1);
    if (depth === 0) drop.classList.remove('is-over');
  });
  drop.addEventListener('drop', (e) => {
    if (!carriesFiles(e)) return;
    e.preventDefault(); e.stopPropagation();
    depth = 0;
    drop.classList.remove('is-over');
    // Entries must be taken while the event runs; reading them can wait.
    const items = Array.from(e.dataTransfer.items ?? []).filter((i) => i.kind === 'file');
    const entries = items.map((i) => (typeof i.webkitGetAsEntry === 'function' ? i.webkitGetAsEntry() : null));
    const files = Array.from(e.dataTransfer.files ?? []);
    const name = entries.length === 1 && entries[0]?.isDirectory ? entries[0].name : 'dropped files';
    droppedFiles(entries, files)
      .then((found) => readFiles(found, name))
      .catch((err) => showNote(`The dropped files could not be read: ${err?.message ?? err}`, 'is-bad'));
  });
  drop.addEventListener('click', () => ui.folder.click());
  drop.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); ui.folder.click(); }
  });
}

// ---------------------------------------------------------------------------------------------------------
// Running

async function startRun() {
  const p = B.preview;
  const model = B.hooks.model();
  if (!p || !p.tasks.length || !model || B.active) return;
  const settings = B.hooks.settings();
  const created = Date.now();
  const run = {
    id: `run-${created}-${Math.random().toString(36).slice(2, 8)}`,
    label: `${p.source.name} · ${model.name} · ${settingsText(settings)}`,
    created,
    model,
    settings,
    source: p.source.name,
    dataset: p.source.kind === 'jsonl'
      ? { imported: p.source.name, files: p.files, functions: p.functions }
      : { ...p.config, files: p.files, files_read: p.filesRead, functions: p.functions, skipped: p.skipped.length },
    tasks: p.tasks,
    status: 'running',
  };
  B.runs.set(run.id, run);
  B.results.set(run.id, new Map());
  try {
    await store.putRun(run);
  } catch (e) {
    B.hooks.showError(`The run could not be stored in this browser: ${e?.message ?? e}`);
  }
  activate(run);
  showRun(run.id);
}

function activate(run) {
  B.active = { run, inflight: new Map(), sessionStart: performance.now(), sessionDone: 0, crashes: new Map(), note: '', next: 0 };
  if (B.ui.progressText) B.ui.progressText.dataset.engines = '1'; // the most engines this session has used
  B.helperCap = Infinity;
  B.helperNote = '';
  renderProgress();
  refresh();
}

async function setStatus(run, status) {
  run.status = status;
  try { await store.putRun(run); } catch { /* shown when the results are stored */ }
}

// ---------------------------------------------------------------------------------------------------------
// Engines: the page's worker, and while a run goes on, extra workers with their own copy of the model

/** The most engines a run uses at once. */
const MAX_ENGINES = 4;

/**
 * How many engines the run asks for: the “Engines” setting, or with “auto”, one per CPU core (up to four)
 * while their copies of the model (about twice the file each, in wasm memory) stay under 1.5 GB.
 */
export function autoEngines(cores, fileBytes) {
  const byCores = Math.max(1, Math.min(MAX_ENGINES, Math.floor(Number(cores) || 1)));
  const bytes = Number(fileBytes) || 0;
  const byMemory = bytes > 0 ? Math.max(1, Math.floor(1.5e9 / (2 * bytes))) : 1;
  return Math.min(byCores, byMemory);
}

function enginesWanted() {
  const choice = B.ui.engines?.value ?? 'auto';
  if (choice !== 'auto') return Math.max(1, Math.min(MAX_ENGINES, Number(choice) || 1));
  return autoEngines(navigator.hardwareConcurrency, B.hooks.model()?.fileBytes);
}

/** Starts or stops extra engines so that the active run has as many as it asks for. */
function syncHelpers() {
  const a = B.active;
  const model = B.hooks.model();
  const source = a && model && model.name === a.run.model.name ? B.hooks.modelSource() : null;
  const want = source ? Math.min(enginesWanted() - 1, B.helperCap) : 0;
  for (const h of [...B.helpers]) {
    if (!source || h.source.key !== source.key) stopHelper(h, { requeue: true });
  }
  // Idle engines beyond the count stop now; busy ones when their task is done (record()).
  for (const h of B.helpers.slice(want).filter((x) => !x.inflight)) stopHelper(h);
  // (A failure lowers the cap, so this ends even when no worker can be started.)
  while (source && B.helpers.length < Math.min(want, B.helperCap)) startHelper(source);
}

function startHelper(source) {
  let worker;
  try {
    worker = B.hooks.spawnWorker();
  } catch (e) {
    helperFailed(null, `an extra engine could not start: ${e?.message ?? e}`);
    return;
  }
  const h = { worker, source, loadId: 0, loaded: false, inflight: null };
  B.helpers.push(h);
  worker.onmessage = (e) => onHelperMessage(h, e.data);
  worker.onerror = (e) => {
    e.preventDefault?.();
    helperFailed(h, `an extra engine stopped with an error${e.message ? `: ${e.message}` : ''}`);
  };
}

/** Ends an extra engine; with `requeue`, its task in flight goes back to the queue. */
function stopHelper(h, { requeue = false } = {}) {
  const i = B.helpers.indexOf(h);
  if (i >= 0) B.helpers.splice(i, 1);
  h.worker.onmessage = null;
  h.worker.onerror = null;
  h.worker.terminate();
  const a = B.active;
  if (h.inflight) {
    B.requests.delete(h.inflight.id);
    if (a?.inflight.get(h.inflight.id) === h.inflight) {
      a.inflight.delete(h.inflight.id);
      if (requeue) a.next = Math.min(a.next, h.inflight.index);
    }
    h.inflight = null;
  }
}

function stopHelpers() {
  for (const h of [...B.helpers]) stopHelper(h);
}

/** An extra engine failed to start, load or run: the run goes on with the engines it still has. */
function helperFailed(h, message) {
  const a = B.active;
  const task = h?.inflight;
  if (h) stopHelper(h);
  B.helperCap = B.helpers.length;
  const text = message.replace(/[.\s]+$/, '');
  B.helperNote = `${text[0].toUpperCase()}${text.slice(1)}; the run goes on with ${1 + B.helpers.length} engine${B.helpers.length ? 's' : ''}.`;
  if (a && task) {
    const crashes = (a.crashes.get(task.index) ?? 0) + 1;
    a.crashes.set(task.index, crashes);
    a.next = Math.min(a.next, task.index);
  }
  renderProgress();
  queueMicrotask(pump);
}

function onHelperMessage(h, msg) {
  if (!isWorkerEvent(msg) || !B.helpers.includes(h)) return;
  if (msg.kind === EV.READY) {
    h.loadId = B.hooks.nextId();
    const s = h.source;
    try {
      h.worker.postMessage(loadRequest(h.loadId, s.url, s.name, true, s.file, s.companions));
    } catch (e) {
      helperFailed(h, `an extra engine could not be given the model: ${e?.message ?? e}`);
    }
  } else if (msg.kind === EV.LOADED && msg.id === h.loadId) {
    h.loaded = true;
    pump();
  } else if (msg.kind === EV.ERROR && (msg.fatal === true || (!h.loaded && msg.id === h.loadId))) {
    helperFailed(h, h.loaded
      ? `an extra engine stopped with an error: ${msg.message}`
      : `an extra engine could not load the model: ${msg.message}`);
  } else if (h.inflight && msg.id === h.inflight.id) {
    handleEvent(msg);
  }
}

/** Sends unfinished tasks to the idle engines, if the run may go on; finishes the run when all are done. */
function pump() {
  const a = B.active;
  if (!a) return;
  const model = B.hooks.model();
  if (!model) {
    if (!a.inflight.size) {
      a.note = 'Waiting for the model to load…';
      renderProgress();
    }
    return;
  }
  if (model.name !== a.run.model.name) {
    a.note = `This run uses ${a.run.model.name}, but ${model.name} is loaded: load ${a.run.model.name} again (under “Change the model”) to continue.`;
    syncHelpers();
    renderProgress();
    return;
  }
  syncHelpers();
  const done = runResults(a.run.id);
  const running = new Set([...a.inflight.values()].map((f) => f.index));
  // A task given back by an engine that stopped lies behind `next`: look again from the start.
  if (a.next >= a.run.tasks.length && done.size + running.size < a.run.tasks.length) a.next = 0;
  const idle = [];
  if (![...a.inflight.values()].some((f) => !f.helper)) idle.push(null); // the page's worker
  for (const h of B.helpers) if (h.loaded && !h.inflight) idle.push(h);
  for (const helper of idle) {
    while (a.next < a.run.tasks.length && (done.has(a.next) || running.has(a.next))) a.next += 1;
    if (a.next >= a.run.tasks.length) break;
    running.add(a.next);
    send(a, a.next, helper);
  }
  if (!a.inflight.size && done.size >= a.run.tasks.length) {
    finish();
    return;
  }
  a.note = '';
  renderProgress();
}

/** Sends task `index` to an extra engine, or to the page's worker when `helper` is null. */
function send(a, index, helper) {
  const task = a.run.tasks[index];
  const id = B.hooks.nextId();
  const code = task.prefix + task.middle + task.suffix;
  const line = task.prefix.split('\n').length; // newlines in the prefix + 1, as `infill eval`
  const inflight = { id, index, helper, worker: helper ? helper.worker : B.hooks.worker(), prompt: '', promptTokens: null, step: 0 };
  a.inflight.set(id, inflight);
  a.next = index + 1;
  // A task already carries the code its dataset chose (function or file), as `infill eval` sends it:
  // the playground's "function only" setting must not cut it again.
  if (helper) helper.inflight = inflight;
  post(completeRequest(id, code, line, { ...a.run.settings, context: 'file' }), { kind: 'task', runId: a.run.id, index }, helper);
}

async function onTaskDone(msg, purpose) {
  const a = B.active;
  const inflight = a?.inflight.get(msg.id) ?? null;
  const run = B.runs.get(purpose.runId);
  if (!run) return;
  const task = run.tasks[purpose.index];
  const r = msg.result ?? {};
  const result = {
    run: run.id, index: purpose.index,
    id: task.id, path: task.path, function: task.function, start_line: task.start_line, end_line: task.end_line,
    masked_line: task.masked_line, middle: task.middle,
    completion: String(r.completion ?? ''),
    scores: r.scores ?? {},
    cosine: typeof r.cosine === 'number' ? r.cosine : null,
    stats: r.stats ?? {},
    beams: Array.isArray(r.beams) ? r.beams.map((b) => ({ text: String(b.text ?? ''), score: Number(b.score), finished: b.finished === true })) : [],
    prompt: inflight?.prompt ?? '',
    prompt_tokens: inflight?.promptTokens ?? r.stats?.prompt_tokens ?? null,
  };
  await record(result, inflight);
}

async function onTaskError(msg, purpose) {
  const a = B.active;
  const inflight = a?.inflight.get(msg.id) ?? null;
  const run = B.runs.get(purpose.runId);
  if (!run) return;
  const task = run.tasks[purpose.index];
  await record({
    run: run.id, index: purpose.index,
    id: task.id, path: task.path, function: task.function, start_line: task.start_line, end_line: task.end_line,
    masked_line: task.masked_line, middle: task.middle, error: String(msg.message ?? 'unknown error'),
    prompt: inflight?.prompt ?? '', beams: [], stats: {},
  }, inflight);
}

async function record(result, inflight) {
  runResults(result.run).set(result.index, result);
  try {
    await store.putResult(result);
  } catch (e) {
    B.hooks.showError(`A result could not be stored in this browser (it is kept until the page closes): ${e?.message ?? e}`);
  }
  const a = B.active;
  if (a && inflight && a.inflight.get(inflight.id) === inflight) {
    a.inflight.delete(inflight.id);
    if (inflight.helper?.inflight === inflight) inflight.helper.inflight = null;
    a.sessionDone += 1;
  }
  if (B.view === result.run) scheduleRender();
  renderProgress();
  pump();
}

async function finish() {
  const a = B.active;
  if (!a) return;
  B.active = null;
  stopHelpers();
  await setStatus(a.run, 'done');
  renderProgress(a.run);
  renderRunList();
  if (B.view === a.run.id) { requestSummary(true); scheduleRender(); }
  refresh();
}

function pause() {
  const a = B.active;
  if (!a) return;
  B.active = null;
  stopHelpers();
  for (const f of a.inflight.values()) if (!f.helper) post(cancelRequest(f.id), { kind: 'ignore' });
  setStatus(a.run, 'paused').then(() => { renderProgress(a.run); renderRunList(); refresh(); });
}

function resume(runId) {
  const run = B.runs.get(runId);
  if (!run || B.active || run.status === 'done') return;
  setStatus(run, 'running').then(() => { activate(run); renderRunList(); pump(); });
}

function cancel() {
  const a = B.active;
  const run = a?.run ?? B.runs.get(B.view);
  if (!run || run.status === 'done' || run.status === 'cancelled') return;
  if (a) {
    B.active = null;
    stopHelpers();
    for (const f of a.inflight.values()) if (!f.helper) post(cancelRequest(f.id), { kind: 'ignore' });
  }
  setStatus(run, 'cancelled').then(() => { renderProgress(run); renderRunList(); refresh(); requestSummary(true); });
}

function renderProgress(shown) {
  const ui = B.ui;
  const a = B.active;
  const run = a?.run ?? shown ?? B.runs.get(B.view);
  if (!run) {
    ui.run.hidden = true;
    ui.state.textContent = 'idle';
    return;
  }
  ui.run.hidden = false;
  const total = run.tasks.length;
  const done = runResults(run.id).size;
  ui.progress.max = Math.max(1, total);
  ui.progress.value = done;
  ui.progress.dataset.done = String(done);
  ui.progress.dataset.total = String(total);
  const parts = [`${fmtInt.format(done)} / ${fmtInt.format(total)} tasks`];
  if (a && a.sessionDone > 0) {
    const minutes = (performance.now() - a.sessionStart) / 60_000;
    const rate = a.sessionDone / minutes;
    parts.push(`${rate.toFixed(1)} tasks/min`);
    const engines = 1 + B.helpers.filter((h) => h.loaded).length;
    if (engines > 1) parts.push(`${engines} engines`);
    ui.progressText.dataset.engines = String(Math.max(engines, Number(ui.progressText.dataset.engines) || 0));
    if (total > done) parts.push(`about ${fmtDuration(((total - done) / rate) * 60)} left`);
    ui.progressText.dataset.rate = String(rate);
  }
  const status = a ? (a.note ? 'waiting' : 'running') : run.status;
  ui.state.textContent = status;
  ui.state.dataset.state = status;
  ui.progressText.textContent = parts.join(' · ');
  if (a?.note) ui.current.textContent = a.note;
  else if (a?.inflight.size) {
    const now = [...a.inflight.values()].sort((x, y) => x.index - y.index).map((f) => {
      const t = run.tasks[f.index];
      return `${t.path} · ${t.function}() · line ${t.masked_line}${f.step ? ` · ${f.step} tokens` : ''}`;
    });
    ui.current.textContent = `Now: ${now.join('; ')}${B.helperNote ? ` — ${B.helperNote}` : ''}`;
  } else if (status === 'paused') ui.current.textContent = 'Paused. Resume goes on with the next unfinished task.';
  else if (status === 'cancelled') ui.current.textContent = 'Cancelled. The finished tasks are kept below.';
  else if (status === 'done') ui.current.textContent = 'Finished.';
  else if (status === 'running') ui.current.textContent = 'Will continue when this page is open with the model loaded.';
  else ui.current.textContent = '';
  ui.pause.hidden = !a;
  ui.resume.hidden = Boolean(a) || !(run.status === 'paused' || run.status === 'running') || done >= total;
  ui.resume.disabled = Boolean(B.active) || !B.hooks.model();
  ui.cancel.hidden = !(a || run.status === 'paused');
}

// ---------------------------------------------------------------------------------------------------------
// Events from the worker

/** Offered every worker event first by app.js; returns true when the event belonged to batch evaluation. */
export function handleEvent(msg) {
  if (!B.hooks || msg === null || typeof msg !== 'object') return false;
  const purpose = B.requests.get(msg.id);
  if (!purpose) return false;
  const finalKinds = [EV.DONE, EV.CANCELLED, EV.ERROR, EV.DATASET, EV.SUMMARY];
  if (finalKinds.includes(msg.kind)) B.requests.delete(msg.id);
  if (msg.kind === EV.ERROR && msg.fatal === true) {
    // The worker is gone: app.js restarts it and loads the model again; the task is sent again after that.
    const a = B.active;
    const f = a?.inflight.get(msg.id);
    if (purpose.kind === 'task' && f && !f.helper) {
      const crashes = (a.crashes.get(f.index) ?? 0) + 1;
      a.crashes.set(f.index, crashes);
      if (crashes >= 2) onTaskError({ ...msg, message: `the engine crashed twice on this task: ${msg.message}` }, purpose);
      else {
        a.inflight.delete(f.id);
        a.next = Math.min(a.next, f.index);
      }
    }
    return false;
  }
  switch (purpose.kind) {
    case 'dataset':
      if (msg.kind === EV.DATASET) onDataset(msg, purpose.source);
      else if (msg.kind === EV.ERROR && msg.id === B.previewing) {
        B.previewing = 0;
        showNote(`The tasks could not be built: ${msg.message}`, 'is-bad');
      }
      return true;
    case 'summary':
    case 'compare':
      if (msg.kind === EV.SUMMARY) (purpose.kind === 'summary' ? onSummary : onCompareSummary)(msg, purpose);
      else if (msg.kind === EV.ERROR) B.hooks.showError(`The summary could not be computed: ${msg.message}`);
      return true;
    case 'task': {
      const a = B.active;
      const mine = a?.inflight.get(msg.id) ?? null;
      if (msg.kind === EV.STARTED && mine) {
        mine.prompt = String(msg.prompt ?? '');
        mine.promptTokens = Number.isFinite(msg.prompt_tokens) ? msg.prompt_tokens : null;
      } else if (msg.kind === EV.BEAMS && mine) {
        mine.step = Number(msg.step) || 0;
        if (mine.step % 4 === 0) renderProgress();
      } else if (msg.kind === EV.DONE) {
        onTaskDone(msg, purpose);
      } else if (msg.kind === EV.ERROR) {
        onTaskError(msg, purpose);
      } else if (msg.kind === EV.CANCELLED && mine) {
        a.inflight.delete(mine.id);
        if (mine.helper?.inflight === mine) mine.helper.inflight = null;
        a.next = Math.min(a.next, mine.index);
      }
      return true;
    }
    default:
      return true; // a cancelled task's late events
  }
}

/** Called by app.js after any change of its state: the model may have (re)loaded or the worker restarted. */
/** True while a run goes on (its tasks keep the page's engine busy). */
export const isActive = () => Boolean(B.active);

export function refresh() {
  if (!B.hooks || !B.ui) return;
  const a = B.active;
  for (const f of a ? [...a.inflight.values()] : []) {
    if (!f.helper && f.worker !== B.hooks.worker()) {
      // The page's worker was replaced (crash) without an answer for its task: send it again.
      a.inflight.delete(f.id);
      a.next = Math.min(a.next, f.index);
    }
  }
  if (B.source && !B.preview && !B.previewing && B.hooks.ready()) buildPreview();
  refreshStart();
  if (a) queueMicrotask(pump);
  const run = B.runs.get(B.view);
  if (run && !a) B.ui.resume.disabled = !B.hooks.model();
}

// ---------------------------------------------------------------------------------------------------------
// The run shown: list, summary, histograms, per-file table, results table, detail

function renderRunList() {
  const ui = B.ui;
  const runs = [...B.runs.values()].sort((x, y) => y.created - x.created);
  ui.runs.hidden = runs.length === 0;
  for (const select of [ui.runSelect, ui.compareA, ui.compareB]) {
    const keep = select.value;
    select.replaceChildren();
    for (const run of runs) {
      const done = runResults(run.id).size;
      const o = el('option', '', `${new Date(run.created).toLocaleString()} · ${run.label} · ${done}/${run.tasks.length} (${run.status})`);
      o.value = run.id;
      select.append(o);
    }
    if (runs.some((r) => r.id === keep)) select.value = keep;
  }
  if (B.view) ui.runSelect.value = B.view;
  if (!ui.compareA.value && runs[0]) ui.compareA.value = runs[0].id;
  if (runs.length > 1 && ui.compareA.value === ui.compareB.value) {
    ui.compareB.value = runs.find((r) => r.id !== ui.compareA.value).id;
  }
}

async function showRun(runId) {
  const run = B.runs.get(runId);
  B.view = run ? runId : null;
  B.detail = null;
  B.summary = null;
  renderRunList();
  if (!run) { B.ui.report.hidden = true; renderProgress(); return; }
  if (B.active?.run.id !== runId) {
    // Not running: what is stored is the whole truth.
    const map = new Map();
    try {
      for (const r of await store.results(runId)) map.set(r.index, r);
    } catch (e) {
      B.hooks.showError(`The results of this run could not be read: ${e?.message ?? e}`);
    }
    if (B.active?.run.id !== runId) B.results.set(runId, map);
  }
  if (B.view !== runId) return; // another run was chosen meanwhile
  renderProgress(run);
  renderReport();
  requestSummary(true);
}

/** Pairs of the finished (not failed) results of a run: overall, then per file (`perFile`). */
function summaryGroups(results, perFile) {
  const ok = results.filter((r) => r.error === undefined || r.error === null);
  const byFile = new Map();
  for (const r of perFile ? ok : []) {
    if (!byFile.has(r.path)) byFile.set(r.path, []);
    byFile.get(r.path).push({ hypothesis: r.completion, reference: r.middle });
  }
  return [{ name: '', pairs: ok.map((r) => ({ hypothesis: r.completion, reference: r.middle })) },
    ...[...byFile].map(([name, pairs]) => ({ name, pairs }))];
}

function requestSummary(now = false) {
  if (!B.view) return;
  const results = [...runResults(B.view).values()].sort((x, y) => x.index - y.index);
  if (!now) {
    // While a run goes on, the worker is busy decoding: summarise now and then, overall only.
    if (B.summaryTimer) { B.summaryPending = true; return; }
    const wait = Math.max(1500, 3 * results.length);
    B.summaryTimer = setTimeout(() => { B.summaryTimer = 0; if (B.summaryPending) { B.summaryPending = false; requestSummary(true); } }, wait);
  }
  if (!results.length || !B.hooks.ready()) return;
  const running = B.active?.run.id === B.view;
  post(summarizeRequest(B.hooks.nextId(), summaryGroups(results, !running)), { kind: 'summary', runId: B.view, count: results.length });
}

function onSummary(msg, purpose) {
  if (purpose.runId !== B.view) return;
  const list = Array.isArray(msg.summaries) ? msg.summaries : [];
  B.summary = { runId: purpose.runId, count: purpose.count, all: list[0]?.summary ?? null, files: new Map(list.slice(1).map((s) => [s.name, s.summary])) };
  renderSummary();
  renderFiles();
}

function scheduleRender() {
  if (B.renderTimer) return;
  B.renderTimer = setTimeout(() => {
    B.renderTimer = 0;
    renderReport();
    requestSummary(false);
  }, 800);
}

function renderReport() {
  const run = B.runs.get(B.view);
  const report = B.ui.report;
  if (!run) { report.hidden = true; return; }
  report.hidden = false;
  if (!report.firstChild) buildReportSkeleton();
  const results = [...runResults(run.id).values()];
  const facts = $('batch-facts');
  facts.replaceChildren();
  const fact = (k, v) => { const d = el('div'); d.append(el('dt', '', k), el('dd', '', v)); facts.append(d); };
  fact('Tasks', `${fmtInt.format(run.tasks.length)} from ${run.source}`);
  fact('Model', run.model.name);
  fact('Settings', settingsText(run.settings));
  // The exact settings, for anyone repeating the run with `infill eval` (the flags of the same names).
  facts.lastChild.lastChild.dataset.settings = JSON.stringify(run.settings);
  facts.lastChild.lastChild.dataset.testid = 'batch-run-settings';
  fact('Finished', `${fmtInt.format(results.length)} (${results.filter((r) => r.error).length} failed)`);
  fact('Started', new Date(run.created).toLocaleString());
  renderSummary();
  renderHistograms(results);
  renderFiles();
  renderTable();
  renderDetail();
}

function buildReportSkeleton() {
  const r = B.ui.report;
  const facts = el('dl', 'batch-facts');
  facts.id = 'batch-facts';
  const sumTitle = el('h3', 'batch-sub', 'Summary');
  const sum = testid(el('div', 'batch-summary'), 'batch-summary');
  sum.id = 'batch-summary';
  const histTitle = el('h3', 'batch-sub', 'Distributions');
  const hist = testid(el('div', 'batch-histograms'), 'batch-histograms');
  hist.id = 'batch-histograms';
  const filesTitle = el('h3', 'batch-sub', 'By file');
  const files = testid(el('div', 'batch-files table-wrap'), 'batch-files');
  files.id = 'batch-files';
  const tableTitle = el('h3', 'batch-sub', 'Every task');
  const controls = el('div', 'batch-table-controls');
  const filter = testid(el('input', 'batch-filter'), 'batch-filter');
  filter.type = 'search';
  filter.placeholder = 'Filter: file, function, hidden line or completion';
  filter.setAttribute('aria-label', 'Filter the tasks');
  filter.addEventListener('input', () => { B.table.filter = filter.value; renderTable(); });
  const show = testid(el('select', 'batch-show'), 'batch-show');
  show.setAttribute('aria-label', 'Which tasks to show');
  for (const [v, t] of [['all', 'all tasks'], ['exact', 'exact matches'], ['miss', 'not exact'], ['error', 'failed']]) {
    const o = el('option', '', t); o.value = v; show.append(o);
  }
  show.addEventListener('change', () => { B.table.show = show.value; renderTable(); });
  const shown = testid(el('span', 'batch-shown'), 'batch-shown');
  shown.id = 'batch-shown';
  controls.append(filter, show, shown);
  const wrap = el('div', 'table-wrap batch-table-wrap');
  const table = testid(el('table', 'batch-table'), 'batch-table');
  table.id = 'batch-table';
  wrap.append(table);
  const detail = testid(el('section', 'batch-detail'), 'batch-detail');
  detail.id = 'batch-detail';
  detail.hidden = true;
  detail.setAttribute('aria-label', 'The chosen task');
  r.append(facts, sumTitle, sum, histTitle, hist, filesTitle, files, tableTitle, controls, wrap, detail);
}

function renderSummary() {
  const box = $('batch-summary');
  if (!box) return;
  const s = B.summary?.runId === B.view ? B.summary.all : null;
  box.replaceChildren();
  if (!s) { box.append(el('p', 'card-help', 'The summary appears after the first finished task.')); return; }
  const table = el('table', 'batch-sum-table');
  const head = el('tr');
  for (const h of ['metric', 'mean', '95% interval']) head.append(el('th', '', h));
  table.append(el('thead'), el('tbody'));
  table.tHead.append(head);
  const results = [...runResults(B.view).values()];
  for (const m of METRICS) {
    const tr = el('tr');
    const row = s.rows?.find((x) => x.metric === m.key);
    let mean; let low = null; let high = null;
    if (row) ({ mean, low, high } = row.value);
    else {
      const values = results.map((r) => metricValue(r, m.key)).filter((v) => v !== null);
      mean = values.length ? values.reduce((x, y) => x + y, 0) / values.length : null;
    }
    const td = testid(el('td', 'num', fmtMetric(m, mean)), `batch-summary-${m.key}`);
    if (mean !== null) td.dataset.value = String(mean);
    const ci = el('td', 'num', low === null ? 'mean only' : `${fmtMetric(m, low)} – ${fmtMetric(m, high)}`);
    if (low !== null) { ci.dataset.low = String(low); ci.dataset.high = String(high); }
    tr.append(el('th', '', m.name), td, ci);
    table.tBodies[0].append(tr);
  }
  for (const [key, name, v] of [['corpus_chrf', 'corpus chrF', s.corpus_chrf], ['corpus_bleu', 'corpus BLEU', s.corpus_bleu]]) {
    const tr = el('tr');
    const td = testid(el('td', 'num', Number(v).toFixed(2)), `batch-summary-${key}`);
    td.dataset.value = String(v);
    tr.append(el('th', '', name), td, el('td', 'num', ''));
    table.tBodies[0].append(tr);
  }
  const cap = el('caption', '', `${fmtInt.format(s.count)} scored tasks; 95% bootstrap intervals (1000 resamples, seed 0), as \`infill eval\` prints them.`);
  table.prepend(cap);
  box.append(table);
}

/** An SVG histogram of one metric (built in `doc`, so the offline report can reuse it). */
function histogramSvg(doc, m, values) {
  const W = 260; const H = 130; const left = 30; const bottom = 22; const top = 16;
  let lo = m.lo; let hi = m.hi;
  if (m.key === 'wer') hi = values.reduce((x, v) => Math.max(x, v), 1);
  if (m.key === 'cosine') lo = values.reduce((x, v) => Math.min(x, v), 0);
  const bins = m.binary ? 2 : 10;
  const counts = histogram(values, lo, hi, bins);
  const maxCount = Math.max(1, ...counts);
  const svg = svgEl(doc, 'svg', { viewBox: `0 0 ${W} ${H}`, width: W, height: H, role: 'img', class: 'batch-hist' });
  svg.append(svgEl(doc, 'title', {}, `${m.name}: histogram of ${values.length} tasks`));
  svg.append(svgEl(doc, 'text', { x: left, y: 11, class: 'hist-title' }, m.short));
  const plotW = W - left - 6; const plotH = H - bottom - top;
  const bw = plotW / bins;
  counts.forEach((c, i) => {
    const h = (c / maxCount) * plotH;
    const from = lo + ((hi - lo) * i) / bins; const to = lo + ((hi - lo) * (i + 1)) / bins;
    const rect = svgEl(doc, 'rect', { x: (left + i * bw + 1).toFixed(1), y: (top + plotH - h).toFixed(1), width: Math.max(1, bw - 2).toFixed(1), height: h.toFixed(1), class: 'hist-bar' });
    rect.dataset.count = String(c);
    const label = m.binary ? `${i === 0 ? 0 : 1}` : `${fmtMetric(m, from)}–${fmtMetric(m, to)}`;
    rect.append(svgEl(doc, 'title', {}, `${label}: ${c} task${c === 1 ? '' : 's'}`));
    svg.append(rect);
  });
  svg.append(svgEl(doc, 'line', { x1: left, y1: top + plotH, x2: W - 6, y2: top + plotH, class: 'hist-axis' }));
  svg.append(svgEl(doc, 'text', { x: left - 4, y: top + 8, class: 'hist-label', 'text-anchor': 'end' }, maxCount));
  svg.append(svgEl(doc, 'text', { x: left - 4, y: top + plotH, class: 'hist-label', 'text-anchor': 'end' }, 0));
  const tick = (v) => String(Number(v.toFixed(2)));
  const axis = m.binary ? [['0', left + bw / 2, 'middle'], ['1', left + bw * 1.5, 'middle']]
    : [[tick(lo), left, 'start'], [tick(hi), W - 6, 'end']];
  for (const [t, x, anchor] of axis) svg.append(svgEl(doc, 'text', { x, y: H - 6, class: 'hist-label', 'text-anchor': anchor }, t));
  return svg;
}

function renderHistograms(results, box = $('batch-histograms'), doc = document) {
  if (!box) return;
  box.replaceChildren();
  for (const m of METRICS) {
    const values = results.map((r) => metricValue(r, m.key)).filter((v) => v !== null);
    if (!values.length) continue;
    const fig = el('figure', 'batch-hist-fig', undefined, doc);
    fig.dataset.testid = `batch-hist-${m.key}`;
    fig.append(histogramSvg(doc, m, values));
    box.append(fig);
  }
}

function fileRows(run, results) {
  const byFile = new Map();
  for (const r of results) {
    if (!byFile.has(r.path)) byFile.set(r.path, []);
    byFile.get(r.path).push(r);
  }
  const tasksPerFile = new Map();
  for (const t of run.tasks) tasksPerFile.set(t.path, (tasksPerFile.get(t.path) ?? 0) + 1);
  return [...tasksPerFile].map(([path, total]) => {
    const rs = byFile.get(path) ?? [];
    const means = {};
    for (const m of METRICS) {
      const v = rs.map((r) => metricValue(r, m.key)).filter((x) => x !== null);
      means[m.key] = v.length ? v.reduce((a, b) => a + b, 0) / v.length : null;
    }
    return { path, total, done: rs.length, means };
  });
}

function fileTable(rows, doc = document) {
  const table = el('table', 'batch-file-table', undefined, doc);
  const head = el('tr', '', undefined, doc);
  for (const h of ['file', 'tasks', ...METRICS.map((m) => m.short)]) head.append(el('th', '', h, doc));
  const thead = el('thead', '', undefined, doc);
  thead.append(head);
  const tbody = el('tbody', '', undefined, doc);
  for (const row of rows) {
    const tr = el('tr', '', undefined, doc);
    tr.append(el('td', 'path', row.path, doc), el('td', 'num', row.done === row.total ? row.total : `${row.done}/${row.total}`, doc));
    for (const m of METRICS) tr.append(el('td', 'num', fmtMetric(m, row.means[m.key]), doc));
    tbody.append(tr);
  }
  table.append(thead, tbody);
  return table;
}

function renderFiles() {
  const box = $('batch-files');
  const run = B.runs.get(B.view);
  if (!box || !run) return;
  const rows = fileRows(run, [...runResults(run.id).values()]);
  box.replaceChildren(fileTable(rows));
  // Per-file 95% intervals of chrF from the worker, where it has answered.
  if (B.summary?.runId === run.id) {
    const body = box.querySelector('tbody');
    rows.forEach((row, i) => {
      const s = B.summary.files.get(row.path);
      const chrf = s?.rows?.find((x) => x.metric === 'chrf');
      if (chrf && body.rows[i]) body.rows[i].cells[4].title = `95% interval ${chrf.value.low.toFixed(2)} – ${chrf.value.high.toFixed(2)}`;
    });
  }
}

const COLUMNS = [
  { key: 'index', name: '#', num: true, get: (r) => r.index },
  { key: 'path', name: 'file', get: (r) => r.path },
  { key: 'function', name: 'function', get: (r) => r.function },
  { key: 'masked_line', name: 'line', num: true, get: (r) => r.masked_line },
  { key: 'middle', name: 'hidden line', code: true, get: (r) => r.middle },
  { key: 'completion', name: 'completion', code: true, get: (r) => (r.error ? `error: ${r.error}` : r.completion) },
  ...METRICS.map((m) => ({ key: m.key, name: m.short, num: true, metric: m, get: (r) => metricValue(r, m.key) })),
];

function filteredRows(results) {
  const q = B.table.filter.trim().toLowerCase();
  const show = B.table.show;
  let rows = results.filter((r) => {
    if (show === 'exact' && metricValue(r, 'exact') !== 1) return false;
    if (show === 'miss' && (r.error || metricValue(r, 'exact') === 1)) return false;
    if (show === 'error' && !r.error) return false;
    if (!q) return true;
    return [r.path, r.function, r.middle, r.completion ?? '', r.error ?? ''].some((s) => String(s).toLowerCase().includes(q));
  });
  const col = COLUMNS.find((c) => c.key === B.table.key) ?? COLUMNS[0];
  const dir = B.table.dir;
  rows = rows.sort((x, y) => {
    const a = col.get(x); const b = col.get(y);
    if (a === b) return x.index - y.index;
    if (a === null || a === undefined) return 1;
    if (b === null || b === undefined) return -1;
    return (a < b ? -1 : 1) * dir;
  });
  return rows;
}

const TABLE_LIMIT = 500;

function renderTable() {
  const table = $('batch-table');
  const run = B.runs.get(B.view);
  if (!table || !run) return;
  const results = [...runResults(run.id).values()];
  const rows = filteredRows(results);
  table.replaceChildren();
  const thead = el('thead');
  const head = el('tr');
  for (const c of COLUMNS) {
    const th = el('th', c.num ? 'num' : '');
    const button = testid(el('button', 'batch-sort', c.name), `batch-sort-${c.key}`);
    button.type = 'button';
    button.title = `Sort by ${c.metric ? c.metric.name : c.name}`;
    button.addEventListener('click', () => {
      if (B.table.key === c.key) B.table.dir = -B.table.dir;
      else { B.table.key = c.key; B.table.dir = c.metric && !c.metric.lowerIsBetter ? -1 : 1; }
      renderTable();
    });
    if (B.table.key === c.key) th.setAttribute('aria-sort', B.table.dir > 0 ? 'ascending' : 'descending');
    th.append(button);
    head.append(th);
  }
  thead.append(head);
  const tbody = el('tbody');
  for (const r of rows.slice(0, TABLE_LIMIT)) {
    const tr = testid(el('tr', r.error ? 'is-error' : ''), `batch-row-${r.index}`);
    tr.dataset.index = String(r.index);
    tr.tabIndex = 0;
    if (B.detail === r.index) tr.classList.add('is-selected');
    for (const c of COLUMNS) {
      const v = c.get(r);
      const td = el('td', c.num ? 'num' : c.code ? 'code' : '', c.metric ? fmtMetric(c.metric, v) : v);
      td.dataset.col = c.key;
      if (c.metric && v !== null) td.dataset.value = String(v);
      tr.append(td);
    }
    const open = () => { B.detail = r.index; renderDetail(); for (const x of tbody.rows) x.classList.toggle('is-selected', x === tr); };
    tr.addEventListener('click', open);
    tr.addEventListener('keydown', (e) => { if (e.key === 'Enter') { e.preventDefault(); open(); } });
    tbody.append(tr);
  }
  table.append(thead, tbody);
  const shown = $('batch-shown');
  shown.dataset.count = String(rows.length);
  shown.textContent = rows.length > TABLE_LIMIT
    ? `${fmtInt.format(rows.length)} tasks match; the first ${TABLE_LIMIT} are shown (narrow the filter, or export).`
    : `${fmtInt.format(rows.length)} of ${fmtInt.format(results.length)} finished tasks`;
}

function renderDetail() {
  const box = $('batch-detail');
  const run = B.runs.get(B.view);
  if (!box) return;
  const r = run && B.detail !== null ? runResults(run.id).get(B.detail) : null;
  box.hidden = !r;
  box.replaceChildren();
  if (!r) return;
  const head = el('div', 'batch-detail-head');
  head.append(el('h3', 'batch-sub', `Task ${r.index}: ${r.path} · ${r.function}() · line ${r.masked_line}`));
  const close = testid(el('button', 'btn btn-ghost btn-small', 'Close'), 'batch-detail-close');
  close.type = 'button';
  close.addEventListener('click', () => { B.detail = null; renderDetail(); renderTable(); });
  head.append(close);
  box.append(head);
  const pair = el('div', 'compare');
  const col = (title, text, id) => {
    const c = el('div', 'compare-col');
    const pre = el('pre', 'code-box');
    pre.append(testid(el('code', '', text), id));
    c.append(el('h4', '', title), pre);
    return c;
  };
  pair.append(col('The hidden line', r.middle, 'batch-detail-target'),
    col(r.error ? 'Error' : 'The model’s completion', r.error ?? r.completion, 'batch-detail-completion'));
  box.append(pair);
  if (!r.error) {
    box.append(el('h4', '', 'Letter-by-letter difference'));
    const diff = testid(el('pre', 'code-box diff'), 'batch-detail-diff');
    for (const { op, text } of B.hooks.diffChars(r.completion, r.middle)) {
      diff.append(op === 'same' ? el('span', 'diff-same', text) : el(op === 'ins' ? 'ins' : 'del', `diff-${op}`, text));
    }
    box.append(diff);
    const scores = el('dl', 'batch-facts');
    for (const m of METRICS) {
      const d = el('div');
      d.append(el('dt', '', m.name), el('dd', '', fmtMetric(m, metricValue(r, m.key))));
      scores.append(d);
    }
    const s = r.stats ?? {};
    const d = el('div');
    d.append(el('dt', '', 'Time'), el('dd', '', `${Math.round(s.total_ms ?? 0)} ms, ${s.generated_tokens ?? 0} tokens`));
    scores.append(d);
    box.append(scores);
    box.append(el('h4', '', `Beams (${r.beams.length})`));
    const ol = testid(el('ol', 'batch-beams'), 'batch-detail-beams');
    for (const b of r.beams) {
      const li = el('li');
      li.append(el('code', '', b.text), el('span', 'muted', ` ${Number.isFinite(b.score) ? b.score.toFixed(3) : ''}`));
      ol.append(li);
    }
    box.append(ol);
  }
  const details = el('details', 'prompt-details');
  details.append(el('summary', '', `The prompt${Number.isFinite(r.prompt_tokens) ? ` (${r.prompt_tokens} tokens)` : ''}`));
  details.append(testid(el('pre', 'prompt', r.prompt || '(not recorded)'), 'batch-detail-prompt'));
  box.append(details);
  box.scrollIntoView?.({ block: 'nearest' });
}

// ---------------------------------------------------------------------------------------------------------
// Compare two runs

function compareRuns() {
  const ui = B.ui;
  const a = B.runs.get(ui.compareA.value);
  const b = B.runs.get(ui.compareB.value);
  const out = ui.compare;
  out.replaceChildren();
  if (!a || !b || a === b) { out.append(el('p', 'card-help', 'Choose two different runs.')); return; }
  Promise.all([loadResults(a.id), loadResults(b.id)]).then(([ra, rb]) => {
    const byId = new Map(rb.filter((r) => !r.error).map((r) => [r.id, r]));
    const pairs = ra.filter((r) => !r.error && byId.has(r.id)).map((r) => [r, byId.get(r.id)]);
    if (!pairs.length) { out.append(el('p', 'card-help', 'These runs have no finished task in common (compare runs over the same tasks).')); return; }
    const groups = [
      { name: 'a', pairs: pairs.map(([x]) => ({ hypothesis: x.completion, reference: x.middle })) },
      { name: 'b', pairs: pairs.map(([, y]) => ({ hypothesis: y.completion, reference: y.middle })) },
    ];
    post(summarizeRequest(B.hooks.nextId(), groups), { kind: 'compare', a, b, pairs, metric: ui.compareMetric.value });
    out.append(el('p', 'card-help', 'Summarising…'));
  });
}

async function loadResults(runId) {
  if (B.active?.run.id === runId || (B.results.has(runId) && runResults(runId).size)) return [...runResults(runId).values()];
  const list = await store.results(runId);
  return list;
}

function onCompareSummary(msg, { a, b, pairs, metric }) {
  const out = B.ui.compare;
  out.replaceChildren();
  const [sa, sb] = (msg.summaries ?? []).map((s) => s.summary);
  const m = METRICS.find((x) => x.key === metric) ?? METRICS[2];
  out.append(el('p', 'card-help', `${fmtInt.format(pairs.length)} tasks finished in both runs. A: ${a.label}. B: ${b.label}.`));
  const table = testid(el('table', 'batch-sum-table'), 'batch-compare-summary');
  const head = el('tr');
  for (const h of ['metric', 'A', 'B', 'B − A']) head.append(el('th', '', h));
  const thead = el('thead'); thead.append(head);
  const tbody = el('tbody');
  for (const mm of METRICS) {
    let va; let vb;
    const ra = sa?.rows?.find((x) => x.metric === mm.key); const rb = sb?.rows?.find((x) => x.metric === mm.key);
    if (ra && rb) { va = ra.value.mean; vb = rb.value.mean; } else {
      const mean = (side) => { const v = pairs.map((p) => metricValue(p[side], mm.key)).filter((x) => x !== null); return v.length ? v.reduce((x, y) => x + y, 0) / v.length : null; };
      va = mean(0); vb = mean(1);
    }
    const tr = el('tr');
    const ci = (row) => (row ? ` [${fmtMetric(mm, row.value.low)}, ${fmtMetric(mm, row.value.high)}]` : '');
    const delta = va !== null && vb !== null ? vb - va : null;
    const td = testid(el('td', 'num', delta === null ? '–' : `${delta >= 0 ? '+' : ''}${fmtMetric(mm, delta)}`), `batch-compare-delta-${mm.key}`);
    if (delta !== null) td.dataset.value = String(delta);
    tr.append(el('th', '', mm.name), el('td', 'num', fmtMetric(mm, va) + ci(ra)), el('td', 'num', fmtMetric(mm, vb) + ci(rb)), td);
    tbody.append(tr);
  }
  table.append(thead, tbody);
  out.append(table);
  const differ = pairs.filter(([x, y]) => x.completion !== y.completion).length;
  out.append(el('p', 'card-help', `The completions differ on ${fmtInt.format(differ)} of ${fmtInt.format(pairs.length)} tasks. Where the runs disagree most on ${m.name}:`));
  const ranked = pairs.map(([x, y]) => ({ x, y, d: (metricValue(y, m.key) ?? 0) - (metricValue(x, m.key) ?? 0) }))
    .filter((p) => p.d !== 0 || p.x.completion !== p.y.completion)
    .sort((p, q) => Math.abs(q.d) - Math.abs(p.d) || p.x.index - q.x.index);
  const t = testid(el('table', 'batch-table'), 'batch-compare-table');
  const h = el('tr');
  for (const c of ['task', 'hidden line', 'A', 'B', `${m.short} A`, `${m.short} B`, 'Δ']) h.append(el('th', '', c));
  const th = el('thead'); th.append(h);
  const tb = el('tbody');
  for (const { x, y, d } of ranked.slice(0, 50)) {
    const tr = testid(el('tr'), 'batch-compare-row');
    tr.dataset.id = x.id;
    tr.dataset.delta = String(d);
    tr.append(el('td', '', `${x.path} · ${x.function}() · ${x.masked_line}`), el('td', 'code', x.middle), el('td', 'code', x.completion),
      el('td', 'code', y.completion), el('td', 'num', fmtMetric(m, metricValue(x, m.key))), el('td', 'num', fmtMetric(m, metricValue(y, m.key))),
      el('td', 'num', `${d >= 0 ? '+' : ''}${fmtMetric(m, d)}`));
    tb.append(tr);
  }
  t.append(th, tb);
  const wrap = el('div', 'table-wrap');
  wrap.append(t);
  out.append(ranked.length ? wrap : el('p', 'card-help', 'The two runs wrote the same completion on every common task.'));
}

// ---------------------------------------------------------------------------------------------------------
// Exports

function sortedResults(run) {
  return [...runResults(run.id).values()].sort((x, y) => x.index - y.index);
}

function exportCsv() {
  const run = B.runs.get(B.view);
  if (!run) return;
  const rows = sortedResults(run).map((r) => CSV_COLUMNS.map((c) => {
    if (METRICS.some((m) => m.key === c)) return r.error ? null : metricValue(r, c);
    if (c === 'completion') return r.error ? null : r.completion;
    if (c === 'generated_tokens') return r.stats?.generated_tokens ?? null;
    if (c === 'prompt_tokens') return r.stats?.prompt_tokens ?? r.prompt_tokens ?? null;
    if (c === 'ms') return r.stats?.total_ms ?? null;
    if (c === 'error') return r.error ?? null;
    return r[c];
  }));
  download(`${fileStem(run)}.csv`, 'text/csv;charset=utf-8', toCsv(CSV_COLUMNS, rows));
}

function exportJsonl() {
  const run = B.runs.get(B.view);
  if (!run) return;
  download(`${fileStem(run)}.jsonl`, 'application/x-ndjson', sortedResults(run).map((r) => `${JSON.stringify(evalRecord(r))}\n`).join(''));
}

const REPORT_CSS = `body{font:15px/1.5 system-ui,sans-serif;margin:24px;color:#1b1f33;background:#fff}
h1{font-size:1.4em}h2{font-size:1.15em;margin-top:1.6em}table{border-collapse:collapse;margin:8px 0}
th,td{border-bottom:1px solid #e2e5ef;padding:3px 8px;text-align:left;vertical-align:top}td.num{text-align:right;font-variant-numeric:tabular-nums}
td.code{font-family:ui-monospace,monospace;white-space:pre}dl{display:grid;grid-template-columns:max-content 1fr;gap:2px 16px}dt{color:#646b87}dd{margin:0}
.hists{display:flex;flex-wrap:wrap;gap:12px}.hist-bar{fill:#4f46e5}.hist-axis{stroke:#999}.hist-label,.hist-title{font:10px sans-serif;fill:#444}.hist-title{font-weight:600}
figure{margin:0}caption{caption-side:bottom;color:#646b87;font-size:.9em;text-align:left}`;

/** A self-contained HTML report (no script, no outside file), built as DOM nodes and serialised. */
export function reportHtml(run, results, summary) {
  const doc = document.implementation.createHTMLDocument(`Infill report: ${run.label}`);
  const meta = doc.createElement('meta');
  meta.setAttribute('charset', 'utf-8');
  const csp = doc.createElement('meta');
  csp.setAttribute('http-equiv', 'Content-Security-Policy');
  csp.setAttribute('content', "default-src 'none'; style-src 'unsafe-inline'; img-src data:");
  const style = doc.createElement('style');
  style.textContent = REPORT_CSS;
  doc.head.prepend(meta, csp);
  doc.head.append(style);
  const body = doc.body;
  const e = (tag, cls, text) => el(tag, cls, text, doc);
  body.append(e('h1', '', `Infill batch evaluation: ${run.source}`));
  const facts = e('dl');
  const fact = (k, v) => facts.append(e('dt', '', k), e('dd', '', v));
  fact('Model', run.model.name);
  fact('Settings', settingsText(run.settings));
  fact('Tasks', `${run.tasks.length} (${results.length} finished, ${results.filter((r) => r.error).length} failed)`);
  fact('Dataset', run.dataset.imported ? `tasks imported from ${run.dataset.imported}`
    : run.dataset.seed === undefined ? run.source : `seed ${run.dataset.seed}, ${run.dataset.mode}, ${run.dataset.context} context`);
  fact('Run', `${new Date(run.created).toISOString()} (${run.status})`);
  body.append(facts);
  body.append(e('h2', '', 'Summary'));
  const st = e('table');
  const hr = e('tr'); for (const h of ['metric', 'mean', '95% interval']) hr.append(e('th', '', h));
  st.append(hr);
  for (const m of METRICS) {
    const row = summary?.rows?.find((x) => x.metric === m.key);
    const values = results.map((r) => metricValue(r, m.key)).filter((v) => v !== null);
    const mean = row ? row.value.mean : values.length ? values.reduce((a, b) => a + b, 0) / values.length : null;
    const tr = e('tr');
    tr.append(e('th', '', m.name), e('td', 'num', fmtMetric(m, mean)), e('td', 'num', row ? `${fmtMetric(m, row.value.low)} – ${fmtMetric(m, row.value.high)}` : 'mean only'));
    st.append(tr);
  }
  if (summary) {
    for (const [name, v] of [['corpus chrF', summary.corpus_chrf], ['corpus BLEU', summary.corpus_bleu]]) {
      const tr = e('tr'); tr.append(e('th', '', name), e('td', 'num', Number(v).toFixed(2)), e('td', '', '')); st.append(tr);
    }
  }
  body.append(st);
  body.append(e('h2', '', 'Distributions'));
  const hists = e('div', 'hists');
  renderHistograms(results, hists, doc);
  body.append(hists);
  body.append(e('h2', '', 'By file'));
  body.append(fileTable(fileRows(run, results), doc));
  body.append(e('h2', '', 'Every task'));
  const t = e('table');
  const h = e('tr'); for (const c of COLUMNS) h.append(e('th', c.num ? 'num' : '', c.name));
  t.append(h);
  for (const r of results) {
    const tr = e('tr');
    for (const c of COLUMNS) {
      const v = c.get(r);
      tr.append(e('td', c.num ? 'num' : c.code ? 'code' : '', c.metric ? fmtMetric(c.metric, v) : v));
    }
    t.append(tr);
  }
  body.append(t);
  body.append(e('p', '', 'Made by Infill in the browser. Scores: exact match, chrF, chrF++, BLEU (sacrebleu 2.6.0 definitions), WER (jiwer), IoU, edit similarity, cosine similarity of the model’s hidden states.'));
  return `<!doctype html>\n${doc.documentElement.outerHTML}\n`;
}

function exportHtml() {
  const run = B.runs.get(B.view);
  if (!run) return;
  const summary = B.summary?.runId === run.id ? B.summary.all : null;
  download(`${fileStem(run)}.html`, 'text/html;charset=utf-8', reportHtml(run, sortedResults(run), summary));
}

// ---------------------------------------------------------------------------------------------------------
// Start

/**
 * Called once by app.js. hooks: post(msg) → bool, nextId() → number, ready() → bool (the worker answers),
 * model() → {name, key, fileBytes} | null (loaded and idle to load), modelSource() → {key, name, url, file,
 * companions} | null (what loads the same model in another worker), spawnWorker() → a new engine Worker,
 * settings() → the playground's settings, worker() → the current Worker, diffChars(a, b), showError(message).
 */
export async function attach(hooks) {
  B.hooks = hooks;
  B.ui = {
    state: $('batch-state'), folder: $('batch-folder'), drop: $('batch-drop'), easy40: $('batch-easy40'),
    jsonl: $('batch-jsonl'), seed: $('batch-seed'), mode: $('batch-mode'), context: $('batch-context'), preview: $('batch-preview'),
    engines: $('batch-engines'),
    run: $('batch-run'), progress: $('batch-progress'), progressText: $('batch-progress-text'), current: $('batch-current'),
    pause: $('batch-pause'), resume: $('batch-resume'), cancel: $('batch-cancel'),
    runs: $('batch-runs'), runSelect: $('batch-run-select'), del: $('batch-delete'),
    exportCsv: $('batch-export-csv'), exportJsonl: $('batch-export-jsonl'), exportHtml: $('batch-export-html'),
    report: $('batch-report'), compareA: $('batch-compare-a'), compareB: $('batch-compare-b'),
    compareMetric: $('batch-compare-metric'), compareGo: $('batch-compare-go'), compare: $('batch-compare'),
  };
  if (!B.ui.state) return; // the page has no batch section
  const ui = B.ui;
  wireInput();
  for (const m of METRICS) { const o = el('option', '', m.name); o.value = m.key; ui.compareMetric.append(o); }
  ui.compareMetric.value = 'chrf';
  ui.engines?.addEventListener('change', () => { if (B.active) pump(); });
  ui.pause.addEventListener('click', pause);
  ui.resume.addEventListener('click', () => resume(B.view));
  ui.cancel.addEventListener('click', cancel);
  ui.runSelect.addEventListener('change', () => showRun(ui.runSelect.value));
  ui.del.addEventListener('click', async () => {
    const id = B.view;
    if (!id) return;
    if (B.active?.run.id === id) cancel();
    B.runs.delete(id);
    B.results.delete(id);
    try { await store.deleteRun(id); } catch (e) { hooks.showError(`The run could not be deleted: ${e?.message ?? e}`); }
    const next = [...B.runs.values()].sort((x, y) => y.created - x.created)[0];
    showRun(next?.id ?? null);
  });
  ui.exportCsv.addEventListener('click', exportCsv);
  ui.exportJsonl.addEventListener('click', exportJsonl);
  ui.exportHtml.addEventListener('click', exportHtml);
  ui.compareGo.addEventListener('click', compareRuns);

  B.storageNote = await store.open();
  if (B.storageNote) hooks.showError(B.storageNote);
  let runs = [];
  try { runs = await store.runs(); } catch (e) { hooks.showError(`The stored runs could not be read: ${e?.message ?? e}`); }
  for (const run of runs) B.runs.set(run.id, run);
  // A run still marked running was interrupted (reload, closed tab, crash): it goes on, newest first.
  const interrupted = runs.filter((r) => r.status === 'running').sort((x, y) => y.created - x.created);
  for (const r of interrupted.slice(1)) await setStatus(r, 'paused');
  const newest = interrupted[0] ?? runs.sort((x, y) => y.created - x.created)[0];
  B.ready = true;
  if (newest) {
    const map = new Map();
    for (const r of await store.results(newest.id)) map.set(r.index, r);
    B.results.set(newest.id, map);
    if (interrupted[0]) activate(interrupted[0]);
    await showRun(newest.id);
  }
  renderRunList();
  renderProgress();
  refresh();
}
