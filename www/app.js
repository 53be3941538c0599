// Infill page: the editor, the line picker, the worker conversation and the results.
// Security rule for this file: user text, file names, model names and worker messages only ever reach the
// DOM through textContent / createElement. Never innerHTML & co.

import {
  EV, DEFAULT_MODEL, DEFAULT_SETTINGS, LIMITS, SPECIAL_TOKEN_RE, CATALOG, FIM_LABEL,
  normalizeSettings, loadRequest, completeRequest, readAheadRequest, cancelRequest, isWorkerEvent,
  cacheListRequest, cacheDeleteRequest, hubBase, parseModelSource, specFromKey, specUrl,
  companionUrls, isSafetensors, localModelFiles,
} from './protocol.js';
import * as batch from './batch.js';

// ---------------------------------------------------------------------------------------------------------
// DOM helpers

const $ = (id) => document.getElementById(id);

/** Creates an element with a class and optional text (always via textContent). */
function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined && text !== null) node.textContent = String(text);
  return node;
}

const ui = {
  status: $('status'), statusPill: $('status-pill'), statusLabel: $('status-label'),
  modelLine: $('model-line'), progressRow: $('progress-row'), progress: $('progress'),
  progressText: $('progress-text'), modelNote: $('model-note'), retry: $('retry'),
  stopDownload: $('stop-download'),
  error: $('error'), errorText: $('error-text'), errorClose: $('error-close'),
  code: $('code'), resetExample: $('reset-example'),
  lineView: $('line-view'), linesHelp: $('lines-help'), unseenNote: $('unseen-note'), random: $('random'),
  complete: $('complete'), cancel: $('cancel'), nextHint: $('next-hint'), readAhead: $('read-ahead'),
  settings: $('settings'), beamsInput: $('set-beams'), maxInput: $('set-max'),
  modeSelect: $('set-mode'), share: $('share'),
  sampleSelect: $('set-sample'), temperatureInput: $('set-temperature'), topPInput: $('set-top-p'),
  topKInput: $('set-top-k'), seedInput: $('set-seed'), contextSelect: $('set-context'),
  formatSelect: $('set-format'), rerankSelect: $('set-rerank'), constrainCheck: $('set-constrain'),
  healCheck: $('set-heal'), advanced: $('advanced'),
  beams: $('beams'), beamsEmpty: $('beams-empty'), beamsStep: $('beams-step'), codeNote: $('code-note'),
  prompt: $('prompt'), promptMeta: $('prompt-meta'),
  results: $('results'), verdict: $('verdict'), target: $('target'), targetWhere: $('target-where'),
  completion: $('completion'), diff: $('diff'), metrics: $('metrics'), figures: $('figures'),
  steps: $('steps'),
  models: $('models'), catalog: $('catalog'), catalogLoad: $('catalog-load'), catalogHint: $('catalog-hint'),
  customForm: $('custom-form'), customRepo: $('custom-repo'), customFile: $('custom-file'),
  customLoad: $('custom-load'), customMsg: $('custom-msg'), modelFile: $('model-file'),
  cacheList: $('cache-list'), cacheTotal: $('cache-total'), dropOverlay: $('drop-overlay'),
};

// ---------------------------------------------------------------------------------------------------------
// State

const EXAMPLE = [
  'def median(values):',
  '    """Return the middle value of a list of numbers."""',
  '    ordered = sorted(values)',
  '    n = len(ordered)',
  '    if n == 0:',
  '        raise ValueError("median() of an empty list")',
  '    mid = n // 2',
  '    if n % 2 == 1:',
  '        return ordered[mid]',
  '    return (ordered[mid - 1] + ordered[mid]) / 2',
].join('\n');

const state = {
  code: EXAMPLE,
  masked: 0,                       // 1-based masked line, 0 = none
  settings: { ...DEFAULT_SETTINGS },
  status: 'loading',               // loading | ready | generating | done | error
  worker: null,
  workerReady: false,
  nextId: 1,
  loadId: null,
  modelLoaded: false,
  loadFailed: false,
  model: null,                     // ModelInfo
  runId: null,                     // id of the running completion
  runLine: 0,                      // the line the running/last completion was for
  restarts: 0,                     // automatic engine restarts after crashes
  cancelling: false,
  result: null,                    // last CompletionReport (for the line view reveal)
  lastStep: 0,
  promptTokens: null,              // the running completion's prompt length (its `started` event)
  reading: null,                   // true while a long prompt is read (before the first guesses)
  readAhead: null,                 // {id, key, read, total, done}: the code read while a line is chosen
  download: { samples: [] },
  // Models. A spec is {kind: 'catalog'|'hub'|'url'|'file', key, name, ...} (see protocol.js specFromKey).
  hub: hubBase(location.search, location.href),
  wanted: null,                    // the spec to load when the worker is ready (URL hash, or after a crash)
  loading: null,                   // the spec of the load in progress (state.loadId)
  loadedSpec: null,                // the spec of the model in memory
  loadedId: null,                  // the load id that loaded it (the worker re-sends it after a failed load)
  failedSpec: null,                // the spec of the last failed load (for Retry)
  loadIds: new Set(),              // every load id sent: errors of replaced loads are ignored
  stoppingId: null,                // the load whose download the user stopped
  cache: { entries: [], quota: null, deleting: new Set(), note: '' },
  hashProblem: '',                 // a problem with the link's model or hub, shown once the engine runs
};

// ---------------------------------------------------------------------------------------------------------
// Python syntax highlighting (a small line tokenizer; strings spanning lines are tracked across lines)

const KEYWORDS = new Set(('and as assert async await break class continue def del elif else except finally for ' +
  'from global if import in is lambda nonlocal not or pass raise return try while with yield').split(' '));
const CONSTANTS = new Set(['True', 'False', 'None', 'NotImplemented', 'Ellipsis', '__debug__']);
const BUILTINS = new Set(('abs all any ascii bin bool breakpoint bytearray bytes callable chr classmethod compile ' +
  'complex delattr dict dir divmod enumerate eval exec filter float format frozenset getattr globals hasattr hash ' +
  'help hex id input int isinstance issubclass iter len list locals map max memoryview min next object oct open ' +
  'ord pow print property range repr reversed round set setattr slice sorted staticmethod str sum super tuple ' +
  'type vars zip Exception BaseException ValueError TypeError KeyError IndexError RuntimeError StopIteration ' +
  'NotImplementedError AttributeError ZeroDivisionError OSError ImportError AssertionError').split(' '));

const STRING_START = /([rRbBuUfF]{0,2})("""|'''|"|')/y;
const NUMBER = /(?:0[xX][\da-fA-F_]+|0[oO][0-7_]+|0[bB][01_]+|(?:\d[\d_]*\.?[\d_]*|\.\d[\d_]*)(?:[eE][+-]?\d[\d_]*)?[jJ]?)/y;
const IDENT = /[A-Za-z_\u00AA-\uFFFF][\w\u00AA-\uFFFF]*/y;
const DECORATOR = /@[\w.\u00AA-\uFFFF]+/y;
const isIdentChar = (c) => c !== undefined && /[\w\u00AA-\uFFFF]/.test(c);

/** Index just after the closing quote `q` searched from `from`, or -1. Backslashes escape one character. */
function findClose(line, from, q) {
  for (let k = from; k < line.length; k++) {
    if (line[k] === '\\') { k++; continue; }
    if (line.startsWith(q, k)) return k + q.length;
  }
  return -1;
}

/**
 * Splits one line into [{cls, text}] tokens. `st.triple` carries an open triple-quoted string between lines.
 * @returns {{cls: string, text: string}[]}
 */
function tokenizeLine(line, st) {
  const out = [];
  const push = (cls, text) => {
    if (!text) return;
    const last = out[out.length - 1];
    if (last && last.cls === cls) last.text += text; else out.push({ cls, text });
  };
  let i = 0;
  if (st.triple) {
    const close = findClose(line, 0, st.triple);
    if (close < 0) { push('str', line); return out; }
    push('str', line.slice(0, close));
    st.triple = null;
    i = close;
  }
  const soft = /^\s*(match|case)\b.*:\s*(#.*)?$/.exec(line);
  const softKeyword = soft ? soft[1] : null;
  let prevWord = null;
  let atLineStart = line.slice(0, i).trim() === '';
  while (i < line.length) {
    const ch = line[i];
    if (ch === '#') { push('comment', line.slice(i)); break; }
    if (!isIdentChar(line[i - 1])) {
      STRING_START.lastIndex = i;
      const m = STRING_START.exec(line);
      if (m) {
        const q = m[2];
        const close = findClose(line, i + m[0].length, q);
        if (close >= 0) { push('str', line.slice(i, close)); i = close; }
        else { push('str', line.slice(i)); if (q.length === 3) st.triple = q; i = line.length; }
        prevWord = null; atLineStart = false;
        continue;
      }
      if (/\d/.test(ch) || (ch === '.' && /\d/.test(line[i + 1] ?? ''))) {
        NUMBER.lastIndex = i;
        const m2 = NUMBER.exec(line);
        if (m2 && m2[0]) { push('num', m2[0]); i += m2[0].length; prevWord = null; atLineStart = false; continue; }
      }
    }
    if (ch === '@' && atLineStart) {
      DECORATOR.lastIndex = i;
      const m = DECORATOR.exec(line);
      if (m) { push('deco', m[0]); i += m[0].length; atLineStart = false; continue; }
    }
    IDENT.lastIndex = i;
    const w = /[A-Za-z_\u00AA-\uFFFF]/.test(ch) ? IDENT.exec(line) : null;
    if (w) {
      const word = w[0];
      let cls = '';
      if (prevWord === 'def' || prevWord === 'class') cls = 'defname';
      else if (KEYWORDS.has(word) || (atLineStart && word === softKeyword)) cls = 'kw';
      else if (CONSTANTS.has(word)) cls = 'const';
      else if (word === 'self' || word === 'cls') cls = 'self';
      else if (BUILTINS.has(word)) cls = 'builtin';
      push(cls, word);
      prevWord = word;
      atLineStart = false;
      i += word.length;
      continue;
    }
    push('', ch);
    if (!/\s/.test(ch)) { prevWord = null; atLineStart = false; }
    i++;
  }
  return out;
}

function appendTokens(parent, tokens) {
  for (const t of tokens) {
    if (t.cls) parent.append(el('span', `tok-${t.cls}`, t.text));
    else parent.append(document.createTextNode(t.text));
  }
}

// ---------------------------------------------------------------------------------------------------------
// Text with visible whitespace. textContent stays exactly the original text: spaces, tabs and newlines are
// real characters inside spans that CSS decorates (dots, arrows, ↵).

function appendVisible(parent, text, { allSpaces = false } = {}) {
  const lines = String(text).split('\n');
  lines.forEach((line, idx) => {
    if (idx > 0) parent.append(el('span', 'ws-nl', '\n'));
    const parts = allSpaces ? line.split(/([ \t]+)/) : splitEdges(line);
    for (const part of parts) {
      if (!part) continue;
      if (/^[ \t]+$/.test(part)) appendWhitespace(parent, part);
      else parent.append(document.createTextNode(part));
    }
  });
}

/** [leading whitespace, middle, trailing whitespace] */
function splitEdges(line) {
  const lead = /^[ \t]*/.exec(line)[0];
  const rest = line.slice(lead.length);
  const trail = /[ \t]*$/.exec(rest)[0];
  return [lead, rest.slice(0, rest.length - trail.length), trail];
}

function appendWhitespace(parent, ws) {
  for (const run of ws.match(/ +|\t/g) ?? []) {
    parent.append(el('span', run === '\t' ? 'ws-tab' : 'ws-space', run));
  }
}

function setVisibleText(node, text, opts) {
  node.replaceChildren();
  appendVisible(node, text ?? '', opts);
}

// ---------------------------------------------------------------------------------------------------------
// Formatting

const fmtInt = new Intl.NumberFormat('en-US');
const mb = (bytes) => (bytes / 1e6).toFixed(1);

function fmtDuration(seconds) {
  if (!Number.isFinite(seconds) || seconds < 0) return '';
  if (seconds < 1) return 'less than a second';
  if (seconds < 60) return `about ${Math.round(seconds)} s`;
  const m = Math.floor(seconds / 60);
  return `about ${m} min ${Math.round(seconds - m * 60)} s`;
}

function fmtMs(ms) {
  if (!Number.isFinite(ms)) return '–';
  return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(2)} s`;
}

// ---------------------------------------------------------------------------------------------------------
// Lines and masking

const getLines = () => state.code.split('\n');
const isBlank = (line) => line === undefined || line.trim() === '';
const isDefLine = (line) => /^\s*(async\s+)?def\b/.test(line);
const isCommentLine = (line) => /^\s*#/.test(line);

function randomCandidates() {
  const out = [];
  getLines().forEach((line, i) => {
    if (!isBlank(line) && !isDefLine(line) && !isCommentLine(line)) out.push(i + 1);
  });
  return out;
}

let linesHelpTimer = 0;
function flashLinesHelp(text) {
  const original = 'Pick the line the model should guess. Use ↑/↓ and Enter with the keyboard.';
  ui.linesHelp.textContent = text;
  ui.linesHelp.classList.add('flash');
  clearTimeout(linesHelpTimer);
  linesHelpTimer = setTimeout(() => {
    ui.linesHelp.textContent = original;
    ui.linesHelp.classList.remove('flash');
  }, 4000);
}

function maskLine(n, { focus = false } = {}) {
  if (state.status === 'generating') return;
  const lines = getLines();
  if (!Number.isInteger(n) || n < 1 || n > lines.length) return;
  if (isBlank(lines[n - 1])) {
    flashLinesHelp(`Line ${n} is empty; pick a line with some code on it.`);
    return;
  }
  state.masked = n;
  clearRun();
  renderLines({ focusLine: focus ? n : 0 });
  scrollLineIntoView(n);
  scheduleHashWrite();
  refresh();
}

function randomMask() {
  if (state.status === 'generating') return;
  const candidates = randomCandidates();
  if (candidates.length === 0) {
    flashLinesHelp('There is no line to pick: Random skips empty lines, comments and def lines.');
    return;
  }
  maskLine(candidates[Math.floor(Math.random() * candidates.length)]);
}

function scrollLineIntoView(n) {
  const row = ui.lineView.querySelector(`[data-line="${n}"]`);
  if (!row && !lineWindow) return;
  const view = ui.lineView;
  // A long file shows a window of rows: a line outside it is placed from the fixed row height.
  const height = row ? row.offsetHeight : rowHeight();
  const top = row ? row.offsetTop - view.offsetTop : (n - 1) * height;
  if (top < view.scrollTop || top + height > view.scrollTop + view.clientHeight) {
    view.scrollTop = Math.max(0, top - view.clientHeight / 3);
  }
}

// ---------------------------------------------------------------------------------------------------------
// The line view

// A file with more lines than FULL_RENDER_LINES is shown a window at a time: the rows in view plus
// WINDOW_MARGIN rows on each side, between two spacers, re-rendered as the view scrolls. A pasted 10 MB file
// (150,000 lines) would otherwise build millions of DOM nodes and freeze the page.
const FULL_RENDER_LINES = 3000;
const WINDOW_MARGIN = 150;
let lineWindow = null; // {first, last} (1-based, inclusive) while a long file is windowed, else null
// Highlighting carries state from line to line (triple-quoted strings), so it runs from the top, but only as
// far as a row is shown: a 10 MB paste highlights the first screen at once and the rest when scrolled to.
const linesMemo = { code: null, lines: [], tokens: [], st: { triple: null } };

/** The code's lines and their highlighting, recomputed only when the code changes. */
function codeLines() {
  if (linesMemo.code !== state.code) {
    linesMemo.code = state.code;
    linesMemo.lines = getLines();
    linesMemo.tokens = [];
    linesMemo.st = { triple: null };
  }
  return linesMemo;
}

/** The highlighting tokens of lines 1..`n` (computed once, from the top). */
function tokensUpTo(n) {
  const memo = codeLines();
  const end = Math.min(n, memo.lines.length);
  while (memo.tokens.length < end) memo.tokens.push(tokenizeLine(memo.lines[memo.tokens.length], memo.st));
  return memo.tokens;
}

/** The height of one row of the line view in px (rows never wrap: `white-space: pre`). */
function rowHeight() {
  const row = ui.lineView.querySelector('.ln-row');
  return row?.offsetHeight || parseFloat(getComputedStyle(ui.lineView).lineHeight) || 21;
}

/** The rows to build for `count` lines: all of them, or a window around the view (or around `around`). */
function rowRange(count, around) {
  if (count <= FULL_RENDER_LINES) return { first: 1, last: count };
  const height = rowHeight();
  const view = ui.lineView;
  let top = Math.floor(view.scrollTop / height) + 1;
  const shown = Math.ceil(view.clientHeight / height) + 1;
  if (around && (around < top || around > top + shown)) top = Math.max(1, around - Math.floor(shown / 3));
  return { first: Math.max(1, top - WINDOW_MARGIN), last: Math.min(count, top + shown + WINDOW_MARGIN) };
}

let windowFrame = 0;
ui.lineView.addEventListener('scroll', () => {
  if (!lineWindow || windowFrame) return;
  windowFrame = requestAnimationFrame(() => {
    windowFrame = 0;
    if (!lineWindow) return;
    const { first, last } = rowRange(codeLines().lines.length, 0);
    const slack = WINDOW_MARGIN / 3;
    if (Math.abs(first - lineWindow.first) > slack || Math.abs(last - lineWindow.last) > slack) renderLines();
  });
});

function renderLines({ focusLine = 0 } = {}) {
  const { lines } = codeLines();
  const active = document.activeElement;
  const hadFocus = ui.lineView.contains(active) ? Number(active.dataset.line) : 0;
  const focusTarget = focusLine || hadFocus;
  const rovingLine = focusTarget || state.masked || 1;
  const generating = state.status === 'generating';
  const revealed = state.result && state.runLine === state.masked && state.status === 'done';
  const layout = state.settings.format;
  const prefixOnly = state.masked > 0 && (layout === 'none' || layout === 'fence'
    || (state.model?.fim_format === 'none' && layout === 'auto'));
  // Suffix lines used to rerank the finished guesses (only when there are several guesses).
  const checkedLines = prefixOnly && state.settings.beams > 1 ? Number(state.settings.rerank) || 0 : 0;

  ui.lineView.style.setProperty('--gutter', `${String(lines.length).length + 1}ch`);
  ui.lineView.classList.toggle('is-busy', generating);
  const frag = document.createDocumentFragment();
  const { first, last } = rowRange(lines.length, focusLine);
  const tokens = tokensUpTo(last);
  lineWindow = lines.length > FULL_RENDER_LINES ? { first, last } : null;
  const spacer = (rows) => {
    const div = el('div', 'ln-spacer');
    div.style.height = `${rows * rowHeight()}px`;
    div.setAttribute('aria-hidden', 'true');
    return div;
  };
  if (lineWindow) frag.append(spacer(first - 1));
  for (let n = first; n <= last; n++) {
    const line = lines[n - 1];
    const i = n - 1;
    const row = el('div', 'ln-row');
    row.dataset.line = String(n);
    row.dataset.testid = `line-${n}`;
    row.setAttribute('role', 'option');
    row.id = `line-opt-${n}`;
    row.tabIndex = n === rovingLine ? 0 : -1;
    const masked = n === state.masked;
    row.setAttribute('aria-selected', String(masked));
    if (generating) row.setAttribute('aria-disabled', 'true');
    if (isBlank(line)) row.classList.add('is-blank');
    if (prefixOnly && n > state.masked + checkedLines) row.classList.add('is-unseen');

    row.append(el('span', 'ln-num', n));
    const codeCell = el('span', 'ln-code');
    if (masked) {
      row.classList.add('masked');
      row.dataset.masked = 'true';
    }
    if (masked && !revealed) {
      row.classList.add('is-masked');
      const ph = el('span', 'hidden-line', generating ? 'hidden line · the model is guessing…' : 'hidden line');
      codeCell.append(ph);
      row.setAttribute('aria-label', `Line ${n}: hidden`);
    } else if (masked && revealed) {
      row.classList.add('is-revealed');
      appendTokens(codeCell, tokens[i]);
      codeCell.append(el('span', 'reveal-tag', 'revealed'));
      row.setAttribute('aria-label', `Line ${n} (was hidden): ${line}`);
    } else {
      appendTokens(codeCell, tokens[i]);
      if (line === '') codeCell.append(document.createTextNode('\u200b'));
    }
    row.append(codeCell);
    frag.append(row);
  }
  if (lineWindow) frag.append(spacer(lines.length - last));
  ui.lineView.replaceChildren(frag);
  ui.unseenNote.hidden = !(prefixOnly && state.masked < lines.length);
  ui.unseenNote.textContent = checkedLines > 0
    ? `Faded lines below the gap are not shown to this model. The ${checkedLines === 1 ? 'line' : `${checkedLines} lines`} just below it only help pick among its finished guesses (More settings → Check guesses against the code below).`
    : 'Faded lines below the gap are not shown to this model.';
  if (focusTarget) ui.lineView.querySelector(`[data-line="${focusTarget}"]`)?.focus({ preventScroll: true });
}

function moveLineFocus(row, delta) {
  const count = codeLines().lines.length;
  const current = Number(row.dataset.line);
  const target = delta === Infinity ? count : delta === -Infinity ? 1 : Math.min(count, Math.max(1, current + delta));
  const next = ui.lineView.querySelector(`[data-line="${target}"]`);
  if (!next) {
    // Outside the window of a long file: build the rows around it, then bring it into view.
    renderLines({ focusLine: target });
    scrollLineIntoView(target);
    return;
  }
  for (const r of ui.lineView.querySelectorAll('.ln-row')) r.tabIndex = -1;
  next.tabIndex = 0;
  next.focus();
}

ui.lineView.addEventListener('click', (e) => {
  const row = e.target.closest('.ln-row');
  if (row) maskLine(Number(row.dataset.line), { focus: document.activeElement === row });
});

ui.lineView.addEventListener('keydown', (e) => {
  const row = e.target.closest('.ln-row');
  if (!row || e.altKey || e.ctrlKey || e.metaKey) return;
  const keys = { ArrowDown: 1, ArrowUp: -1, PageDown: 10, PageUp: -10, Home: -Infinity, End: Infinity };
  if (e.key in keys) { e.preventDefault(); moveLineFocus(row, keys[e.key]); }
  else if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); maskLine(Number(row.dataset.line), { focus: true }); }
});

// ---------------------------------------------------------------------------------------------------------
// The code editor

ui.code.addEventListener('input', (e) => {
  state.code = ui.code.value.replace(/\r\n?/g, '\n');
  if (e.inputType === 'insertFromPaste' || e.inputType === 'insertFromDrop') fitEditors();
  const lines = getLines();
  if (state.masked && (state.masked > lines.length || isBlank(lines[state.masked - 1]))) state.masked = 0;
  clearRun();
  renderLines();
  scheduleHashWrite();
  scheduleReadAhead();
  refresh();
});

ui.resetExample.addEventListener('click', () => {
  if (state.status === 'generating') return;
  setCode(EXAMPLE);
  state.masked = 0;
  clearRun();
  renderLines();
  scheduleHashWrite();
  refresh();
});

function setCode(code) {
  state.code = code;
  ui.code.value = code;
  fitEditors();
}

/** Sizes the text box and the line view to the code (between about 10 and 20 lines). */
function fitEditors() {
  const lineHeight = parseFloat(getComputedStyle(ui.code).lineHeight) || 21.6;
  const rows = Math.min(20, Math.max(10, getLines().length + 1));
  const px = `${Math.round(rows * lineHeight + 26)}px`;
  ui.code.style.height = px;
  ui.lineView.style.height = px;
}

// ---------------------------------------------------------------------------------------------------------
// Settings

function showSettings() {
  ui.beamsInput.value = String(state.settings.beams);
  ui.maxInput.value = String(state.settings.max_new_tokens);
  ui.modeSelect.value = state.settings.mode;
  const s = state.settings;
  ui.sampleSelect.value = s.sample ? '1' : '0';
  ui.temperatureInput.value = String(s.temperature);
  ui.topPInput.value = String(s.top_p);
  ui.topKInput.value = String(s.top_k);
  ui.seedInput.value = String(s.seed);
  ui.contextSelect.value = s.context;
  ui.formatSelect.value = s.format;
  if (![...ui.rerankSelect.options].some((o) => o.value === String(s.rerank))) {
    const o = document.createElement('option');
    o.value = String(s.rerank);
    o.textContent = `next ${s.rerank} lines`;
    ui.rerankSelect.append(o);
  }
  ui.rerankSelect.value = String(s.rerank);
  ui.constrainCheck.checked = s.constrain;
  ui.healCheck.checked = s.heal;
  ui.advanced.classList.toggle('is-sampling', s.sample);
}

function readSettings({ rewrite }) {
  const raw = {
    beams: ui.beamsInput.value === '' ? state.settings.beams : ui.beamsInput.value,
    max_new_tokens: ui.maxInput.value === '' ? state.settings.max_new_tokens : ui.maxInput.value,
    mode: ui.modeSelect.value,
    sample: ui.sampleSelect.value === '1',
    temperature: ui.temperatureInput.value,
    top_p: ui.topPInput.value,
    top_k: ui.topKInput.value,
    seed: ui.seedInput.value,
    context: ui.contextSelect.value,
    format: ui.formatSelect.value,
    rerank: ui.rerankSelect.value,
    constrain: ui.constrainCheck.checked,
    heal: ui.healCheck.checked,
  };
  state.settings = normalizeSettings(raw);
  ui.advanced.classList.toggle('is-sampling', state.settings.sample);
  if (rewrite) showSettings();
  scheduleHashWrite();
  scheduleReadAhead();
}

ui.settings.addEventListener('input', () => readSettings({ rewrite: false }));
ui.settings.addEventListener('change', () => readSettings({ rewrite: true }));

// ---------------------------------------------------------------------------------------------------------
// URL hash: #model=<catalog key | owner/repo/file.gguf | https address>&code=<base64url UTF-8>&line=N&beams=B
// &max=M&mode=single|multi. A local file cannot be shared, so it leaves `model` out.

function toBase64Url(text) {
  const bytes = new TextEncoder().encode(text);
  let bin = '';
  for (let i = 0; i < bytes.length; i += 0x8000) bin += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(bin).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

function fromBase64Url(s) {
  if (!/^[A-Za-z0-9_-]*$/.test(s)) throw new Error('not base64url');
  const b64 = s.replace(/-/g, '+').replace(/_/g, '/') + '==='.slice((s.length + 3) % 4);
  const bin = atob(b64);
  const bytes = Uint8Array.from(bin, (c) => c.charCodeAt(0));
  return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
}

/** The spec that belongs in a shared link: the model being loaded, else the one in memory. */
function sharedSpec() {
  const spec = state.loading ?? state.loadedSpec ?? state.wanted;
  return spec && spec.kind !== 'file' ? spec : null;
}

function encodeHash() {
  const p = new URLSearchParams();
  const spec = sharedSpec();
  if (spec) p.set('model', spec.key);
  p.set('code', toBase64Url(state.code));
  if (state.masked) p.set('line', String(state.masked));
  p.set('beams', String(state.settings.beams));
  p.set('max', String(state.settings.max_new_tokens));
  p.set('mode', state.settings.mode);
  // The other settings go into the link only when they differ from the defaults, to keep links short.
  for (const [key, fallback] of Object.entries(DEFAULT_SETTINGS)) {
    if (['beams', 'max_new_tokens', 'mode'].includes(key)) continue;
    const value = state.settings[key];
    if (value !== fallback) p.set(key, typeof value === 'boolean' ? (value ? '1' : '0') : String(value));
  }
  return `#${p.toString()}`;
}

let lastHash = '';
let hashTimer = 0;
function scheduleHashWrite() {
  clearTimeout(hashTimer);
  hashTimer = setTimeout(writeHash, 300);
}

function writeHash() {
  clearTimeout(hashTimer);
  lastHash = encodeHash();
  try {
    history.replaceState(history.state, '', `${location.pathname}${location.search}${lastHash}`);
  } catch { /* some sandboxes forbid it: sharing just won't work */ }
}

/** Reads the hash into state. A bad hash (or any bad part of it) is ignored. Returns true if anything applied. */
function readHash() {
  const raw = location.hash.replace(/^#/, '');
  if (!raw) return false;
  let p;
  try { p = new URLSearchParams(raw); } catch { return false; }
  let applied = false;
  if (p.has('code')) {
    try {
      const code = fromBase64Url(p.get('code')).replace(/\r\n?/g, '\n');
      setCode(code);
      state.masked = 0;
      applied = true;
      const line = Number(p.get('line'));
      const lines = getLines();
      if (Number.isInteger(line) && line >= 1 && line <= lines.length && !isBlank(lines[line - 1])) state.masked = line;
    } catch { /* bad code: ignore the code and line */ }
  }
  if (p.has('model')) {
    const found = specFromKey(p.get('model'));
    if (found.ok) {
      state.wanted = found.spec;
    } else {
      state.hashProblem = [state.hashProblem, `${found.message} The link's model was not loaded.`].filter(Boolean).join('\n');
    }
    applied = true;
  }
  const extra = Object.keys(DEFAULT_SETTINGS).filter((k) => !['beams', 'max_new_tokens', 'mode'].includes(k));
  if (p.has('beams') || p.has('max') || p.has('mode') || extra.some((k) => p.has(k))) {
    const raw = {
      beams: p.get('beams') ?? state.settings.beams,
      max_new_tokens: p.get('max') ?? state.settings.max_new_tokens,
      mode: p.get('mode') ?? state.settings.mode,
    };
    for (const k of extra) raw[k] = p.get(k) ?? state.settings[k];
    state.settings = normalizeSettings(raw);
    applied = true;
  }
  lastHash = location.hash;
  return applied;
}

window.addEventListener('hashchange', () => {
  if (location.hash === lastHash || state.status === 'generating') return;
  const before = state.wanted;
  if (readHash()) {
    clearRun();
    showSettings();
    renderLines();
    refresh();
    if (state.hashProblem) { showError(state.hashProblem); state.hashProblem = ''; }
    // A link to another model loads it.
    const current = state.loading ?? state.loadedSpec;
    if (state.wanted && state.wanted !== before && state.workerReady && state.wanted.key !== current?.key) {
      loadModel(state.wanted);
    }
  }
});

ui.share.addEventListener('click', async () => {
  writeHash();
  const label = ui.share.textContent;
  let copied = false;
  try { await navigator.clipboard.writeText(location.href); copied = true; } catch { /* not allowed here */ }
  ui.share.textContent = copied ? 'Link copied ✓' : 'Link is in the address bar';
  setTimeout(() => { ui.share.textContent = label; }, 2000);
});

// ---------------------------------------------------------------------------------------------------------
// Status, errors and the "what next" hint

const STATUS_LABELS = {
  loading: 'Loading the model…',
  ready: 'Model ready',
  generating: 'The model is guessing…',
  done: 'Finished: results below',
  error: 'Something went wrong',
};

function setStatus(word, label) {
  state.status = word;
  ui.status.textContent = word;
  ui.statusPill.dataset.state = word;
  ui.statusLabel.textContent = label ?? STATUS_LABELS[word];
  document.body.dataset.status = word;
}

function showError(message) {
  ui.errorText.textContent = String(message || 'Unknown error');
  ui.error.hidden = false;
}

function hideError() {
  ui.error.hidden = true;
  ui.errorText.textContent = '';
}

ui.errorClose.addEventListener('click', hideError);

/** Enables/disables controls and updates the hints after any change. */
function refresh() {
  const generating = state.status === 'generating';
  const lines = getLines();
  const hasCode = state.code.trim() !== '';
  const masked = state.masked > 0 && state.masked <= lines.length;

  ui.complete.disabled = !(state.modelLoaded && masked && hasCode && !generating);
  ui.cancel.disabled = !(generating && !state.cancelling);
  ui.random.disabled = generating;
  ui.resetExample.disabled = generating;
  ui.settings.disabled = generating;
  ui.code.readOnly = generating;
  ui.code.classList.toggle('is-locked', generating);
  refreshModelControls();

  let hint;
  if (generating && state.cancelling) hint = 'Stopping…';
  // Said once (the hint is a live region); the figures go by beside the guesses (#beams-step).
  else if (generating && state.reading) {
    hint = `Reading the code${Number.isFinite(state.promptTokens) ? ` (${fmtInt.format(state.promptTokens)} tokens)` : ''} before guessing… press Esc to stop.`;
  }
  else if (generating) hint = 'The model is writing its guesses… press Esc to stop.';
  else if (!hasCode) hint = 'Paste some Python code in step 1.';
  else if (!masked) hint = 'Click a line in step 2 to hide it, or press Random line.';
  else if (state.loadFailed) hint = 'No model is loaded, so there is nothing to run yet: try again, or choose another model.';
  else if (!state.modelLoaded) hint = `Line ${state.masked} is hidden. Complete unlocks when the model has loaded.`;
  else if (state.status === 'done') hint = 'Pick another line, or change the settings and press Complete again.';
  else hint = `Line ${state.masked} is hidden. Press Complete to let the model guess it.`;
  ui.nextHint.textContent = hint;
  renderReadAhead();

  const current = !hasCode ? 1 : !masked ? 2 : 3;
  for (const li of ui.steps.children) {
    const n = Number(li.dataset.step);
    li.classList.toggle('is-current', n === current);
    li.classList.toggle('is-done', n < current || (n === 3 && state.status === 'done'));
  }
  batch.refresh();
}

// ---------------------------------------------------------------------------------------------------------
// The worker

/** A new engine worker (the dev fake with `?fake-worker`, which gets the page's query through its name). */
function newWorker() {
  const fake = new URLSearchParams(location.search).has('fake-worker');
  return fake ? new Worker('./dev-fake-worker.js', { name: location.search }) : new Worker('./worker.js');
}

function startWorker({ afterCrash = false } = {}) {
  state.readAhead = null;
  state.workerReady = false;
  state.modelLoaded = false;
  state.loadFailed = false;
  state.model = null;
  state.loading = null;
  state.loadedSpec = null;
  state.loadedId = null;
  // After a crash the pill keeps saying "error" until the model is back.
  if (afterCrash) setStatus('error', 'Restarting the AI engine…');
  else setStatus('loading', 'Starting the AI engine…');
  ui.modelLine.textContent = `Starting the engine that runs ${(state.wanted ?? defaultSpec()).name} in this tab…`;
  ui.progressRow.hidden = false;
  ui.progress.removeAttribute('value');
  ui.progressText.textContent = '';
  ui.modelNote.hidden = true;
  ui.retry.hidden = true;
  try {
    state.worker = newWorker();
  } catch (err) {
    loadFailed(`Could not start the AI engine: ${err?.message ?? err}`);
    return;
  }
  const worker = state.worker;
  worker.onmessage = (e) => {
    if (worker !== state.worker) return; // a worker we already replaced
    try { handleEvent(e.data); } catch (err) { console.error(err); showError(`The page could not show a message from the engine: ${err?.message ?? err}`); }
  };
  worker.onerror = (e) => {
    e.preventDefault?.();
    if (worker !== state.worker) return;
    const detail = e.message ? `: ${e.message}` : ' (its script failed to load or crashed)';
    engineFailed(state.workerReady ? `The AI engine stopped with an error${detail}` : `The AI engine could not start${detail}`);
  };
  worker.onmessageerror = () => showError('The engine sent a message the page could not read.');
  refresh();
}

function post(msg) {
  try {
    state.worker.postMessage(msg);
    return true;
  } catch (err) {
    engineFailed(`Could not talk to the AI engine: ${err?.message ?? err}`);
    return false;
  }
}

/** The default model as a spec. */
function defaultSpec() {
  return specFromKey(DEFAULT_MODEL.key).spec;
}

/** The absolute address the worker downloads `spec` from ('' for a local file). */
function urlOf(spec) {
  if (!spec || spec.kind === 'file') return '';
  try { return new URL(specUrl(spec, state.hub.base), location.href).href; } catch { return specUrl(spec, state.hub.base); }
}

/**
 * Loads `spec`, replacing the model in memory (or the download in progress). Status: loading → ready, or
 * error with a retry; if the new model fails and the old one is still in memory, the old one comes back.
 */
function loadModel(spec, { reveal = false } = {}) {
  if (!spec || state.status === 'generating') return;
  if (!state.worker || !state.workerReady) {
    state.wanted = spec; // loaded as soon as the engine has started
    refresh();
    return;
  }
  hideError();
  clearRun();
  state.wanted = spec;
  state.loading = spec;
  state.cache.note = '';
  if (spec.kind === 'catalog') {
    const radio = ui.catalog.querySelector(`input[value="${CSS.escape(spec.key)}"]`);
    if (radio) radio.checked = true;
  } else if (spec.kind === 'hub' || spec.kind === 'url') {
    ui.customRepo.value = spec.kind === 'hub' ? spec.repo : spec.url;
    ui.customFile.value = spec.kind === 'hub' ? spec.file : '';
  }
  state.loadId = state.nextId++;
  state.loadIds.add(state.loadId);
  state.modelLoaded = false;
  state.loadFailed = false;
  state.download = { samples: [] };
  const local = spec.kind === 'file';
  setStatus('loading', local ? 'Reading the model file…' : 'Downloading the model…');
  ui.modelLine.replaceChildren(
    document.createTextNode(local ? 'Reading ' : 'Loading '),
    el('strong', 'model-name', spec.name),
    document.createTextNode(local
      ? ' from your computer. Local files are read here, never uploaded, and not stored.'
      : '. A download happens once; later visits use the copy stored in this browser.'),
  );
  ui.progressRow.hidden = false;
  ui.progress.removeAttribute('value');
  ui.progressText.textContent = '';
  // A download can be stopped; a local file is read in a moment.
  ui.stopDownload.hidden = local;
  ui.stopDownload.disabled = false;
  ui.stopDownload.textContent = 'Stop the download';
  ui.modelNote.hidden = true;
  ui.retry.hidden = true;
  renderCatalog();
  renderLines();
  refresh();
  syncHash();
  if (reveal) bringIntoView($('model-status'));
  const { url, file, companions } = loadParts(spec);
  post(loadRequest(state.loadId, url, spec.name, true, file, companions));
}

/** What a load request for `spec` carries: its address, the local file, and for a safetensors model its
 * config.json and tokenizer.json (local files, or downloaded from next to the weights). */
function loadParts(spec) {
  const local = spec.kind === 'file';
  const url = urlOf(spec);
  const companions = local
    ? (spec.config ? { config_file: spec.config, tokenizer_file: spec.tokenizer } : undefined)
    : (isSafetensors(url) ? companionUrls(url) : undefined);
  return { url, file: local ? spec.blob : undefined, companions };
}

function loadFailed(message, { stopped = false } = {}) {
  state.loadFailed = true;
  state.modelLoaded = false;
  state.failedSpec = state.loading ?? state.failedSpec;
  state.loading = null;
  ui.progressRow.hidden = true;
  ui.retry.hidden = false;
  if (stopped) {
    // The user's own choice, not a fault: said in the model line, no red box.
    setStatus('error', 'Download stopped');
    ui.modelLine.textContent = `${message} Load it again with the button below, or choose another model under “Change the model”.`;
  } else {
    setStatus('error', 'The model could not be loaded');
    ui.modelLine.textContent = 'The details are in the red box below. Try again, or choose another model under “Change the model”.';
    showError(message);
    if (ui.models.open) bringIntoView(ui.error); // below the open panel: show it
  }
  renderCatalog();
  renderLines();
  refresh();
}

const scrollBehavior = () => (matchMedia('(prefers-reduced-motion: reduce)').matches ? 'auto' : 'smooth');

/** Scrolls `node` into view if it is not (the progress bar and the error sit outside the models panel). */
function bringIntoView(node) {
  const r = node.getBoundingClientRect();
  if (r.top < 0 || r.bottom > window.innerHeight) node.scrollIntoView?.({ behavior: scrollBehavior(), block: 'nearest' });
}

/**
 * The worker died or its wasm module is unusable (a `fatal` error, an uncaught error, a script that did not
 * load). If a model was loaded, start a fresh worker, which loads the model again (from the browser's cache);
 * otherwise offer the Retry button.
 */
function engineFailed(message) {
  const wasLoaded = state.modelLoaded;
  if (state.runId !== null) {
    endRun();
    ui.beamsStep.textContent = 'Stopped by an error';
  }
  try { state.worker?.terminate(); } catch { /* already gone */ }
  state.worker = null;
  state.workerReady = false;
  if (wasLoaded && state.restarts < 3) {
    state.restarts += 1;
    state.wanted = state.loadedSpec ?? state.wanted;
    showError(`${message}\nThe engine is restarting and will load the model again.`);
    // Loading clears the error box: say it again once the new engine is up, so the user is told.
    state.crashNote = `${message}\nThe engine was restarted and loaded the model again.`;
    startWorker({ afterCrash: true });
    renderLines();
    refresh();
  } else {
    loadFailed(message);
  }
}

ui.stopDownload.addEventListener('click', () => {
  if (!state.loading || !state.worker) return;
  // The worker aborts the download and answers with an error naming it (then the model still in memory).
  post(cancelRequest(state.loadId));
  state.stoppingId = state.loadId;
  ui.stopDownload.disabled = true;
  ui.stopDownload.textContent = 'Stopping…';
});

ui.retry.addEventListener('click', () => {
  hideError();
  state.wanted = state.failedSpec ?? state.wanted;
  if (state.worker && state.workerReady) {
    loadModel(state.wanted ?? defaultSpec());
    return;
  }
  try { state.worker?.terminate(); } catch { /* already gone */ }
  state.runId = null;
  startWorker();
  refresh();
});

function handleEvent(msg) {
  if (!isWorkerEvent(msg)) return;
  if (batch.handleEvent(msg)) return; // an answer to batch evaluation (www/batch.js)
  switch (msg.kind) {
    case EV.READY:
      state.workerReady = true;
      loadModel(state.wanted ?? defaultSpec());
      if (state.hashProblem) { showError(state.hashProblem); state.hashProblem = ''; }
      if (state.crashNote) { showError(state.crashNote); state.crashNote = ''; }
      requestCacheList();
      break;
    case EV.PROGRESS:
      if (msg.id === state.loadId && state.loading) {
        onProgress(Number(msg.loaded) || 0, Number(msg.total) || 0, typeof msg.note === 'string' ? msg.note : '');
      }
      break;
    case EV.LOADED:
      if (msg.id === state.loadId && state.loading) onLoaded(msg.model ?? {}, { id: msg.id });
      else if (state.loadFailed && msg.id === state.loadedId) onLoaded(msg.model ?? {}, { id: msg.id, restored: true });
      break;
    case EV.STARTED:
      if (msg.id === state.runId) {
        state.promptTokens = Number.isFinite(msg.prompt_tokens) ? msg.prompt_tokens : null;
        renderPrompt(String(msg.prompt ?? ''), msg.prompt_tokens);
        // E.g. the code is not valid Python 3: said as text, next to the guesses it concerns.
        ui.codeNote.textContent = typeof msg.note === 'string' ? msg.note : '';
        ui.codeNote.hidden = !ui.codeNote.textContent;
      }
      break;
    case EV.BEAMS:
      if (msg.id === state.runId) {
        state.lastStep = Number(msg.step) || 0;
        // A long prompt is read a piece per step (src/engine.rs PROMPT_CHUNK): no guesses yet, but how far
        // the reading got.
        if (state.lastStep === 0 && !(msg.beams?.length > 0)) {
          ui.beamsStep.textContent = readingText(msg.read, state.promptTokens);
          if (!state.reading) { state.reading = true; refresh(); }
        } else {
          if (state.reading) { state.reading = null; refresh(); }
          renderBeams(Array.isArray(msg.beams) ? msg.beams : [], { live: true });
        }
      }
      break;
    case EV.READ_AHEAD:
      if (msg.id === state.readAhead?.id) {
        Object.assign(state.readAhead, { read: Number(msg.read) || 0, total: Number(msg.total) || 0, done: msg.done === true });
        renderReadAhead();
      }
      break;
    case EV.DONE:
      if (msg.id === state.runId) onDone(msg.result ?? {});
      break;
    case EV.CANCELLED:
      if (msg.id === state.runId) onCancelled();
      break;
    case EV.CACHE:
      onCache(Array.isArray(msg.entries) ? msg.entries : [], Number.isFinite(msg.quota) ? msg.quota : null);
      break;
    case EV.ERROR:
      // A read-ahead that failed costs nothing: the `complete` that follows says what is wrong, if anything.
      if (msg.fatal !== true && msg.id != null && msg.id === state.readAhead?.id) { state.readAhead.done = true; renderReadAhead(); break; }
      onWorkerError(msg.id ?? null, String(msg.message ?? 'Unknown error'), msg.fatal === true);
      break;
    default:
      break;
  }
}

// ---------------------------------------------------------------------------------------------------------
// Download progress

function onProgress(loaded, total, note) {
  const now = performance.now();
  const samples = state.download.samples;
  samples.push({ t: now, loaded });
  while (samples.length > 2 && now - samples[1].t > 3000) samples.shift();
  // A resumed or restarted download: measure the speed from here on.
  if (samples.length > 1 && loaded < samples[samples.length - 2].loaded) samples.splice(0, samples.length - 1);
  const first = samples[0];
  const dt = (now - first.t) / 1000;
  const speed = dt > 0.25 ? (loaded - first.loaded) / dt : 0;

  ui.progressRow.hidden = false;
  const parts = [];
  if (total > 0) {
    ui.progress.max = total;
    ui.progress.value = Math.min(loaded, total);
    parts.push(`${mb(loaded)} MB of ${mb(total)} MB`);
  } else {
    ui.progress.removeAttribute('value');
    parts.push(`${mb(loaded)} MB`);
  }
  if (speed > 0) {
    parts.push(`${(speed / 1e6).toFixed(1)} MB/s`);
    if (total > loaded) parts.push(`${fmtDuration((total - loaded) / speed)} left`);
  }
  if (note) state.download.note = note;
  else if (speed > 0) state.download.note = ''; // data flows again: the "dropped" note is over
  if (state.download.note) parts.push(state.download.note);
  ui.progressText.textContent = parts.join(' · ');
  const pct = total > 0 ? ` (${Math.floor((100 * loaded) / total)}%)` : '';
  const reading = state.loading?.kind === 'file' ? 'Reading the model file' : 'Downloading the model';
  ui.statusLabel.textContent = loaded >= total && total > 0 ? 'Preparing the model…' : `${reading}${pct}`;
}

function onLoaded(model, { id, restored = false }) {
  scheduleReadAhead({ again: true });
  const spec = restored ? state.loadedSpec : state.loading;
  state.model = {
    name: String(model.name ?? spec?.name ?? DEFAULT_MODEL.name),
    architecture: String(model.architecture ?? ''),
    vocab_size: Number(model.vocab_size) || 0,
    file_bytes: Number(model.file_bytes) || 0,
    fim_format: String(model.fim_format ?? 'none'),
    requantized: model.requantized === true,
  };
  state.modelLoaded = true;
  state.loadFailed = false;
  state.loadedSpec = spec;
  state.loadedId = id;
  state.loading = null;
  state.wanted = spec;
  if (!restored) state.failedSpec = null;
  if (ui.progress.max > 0 && ui.progress.hasAttribute('value')) ui.progress.value = ui.progress.max;
  ui.progressRow.hidden = true;
  ui.retry.hidden = true;

  const m = state.model;
  const facts = [m.architecture && `${m.architecture} architecture`,
    m.vocab_size && `${fmtInt.format(m.vocab_size)}-token vocabulary`,
    m.file_bytes && `${mb(m.file_bytes)} MB`,
    m.requantized && 'weights re-encoded to 8-bit for speed'].filter(Boolean);
  ui.modelLine.replaceChildren(
    el('strong', 'model-name', m.name),
    document.createTextNode(restored
      ? (state.stoppingId === state.loadId // the failed load is the one the user stopped
        ? ' is still loaded and running in this tab: you stopped the download of the other model.'
        : ' is still loaded and running in this tab: the other model could not be loaded (see below).')
      : ` is loaded and running in this tab.${facts.length ? ` ${facts.join(' · ')}.` : ''}`),
  );
  if (m.fim_format === 'none') {
    ui.modelNote.textContent = 'Note: this model is not trained for fill-in-the-middle: it sees only the code above the hidden line.';
  } else {
    ui.modelNote.textContent = `Fill-in-the-middle format: ${m.fim_format}. The model sees the code above and below the hidden line.`;
  }
  ui.modelNote.hidden = false;
  if (state.status !== 'generating') setStatus('ready', restored ? `Still using ${m.name}` : undefined);
  syncHash();
  renderCatalog();
  renderLines();
  refresh();
  requestCacheList();
}

// ---------------------------------------------------------------------------------------------------------
// Models: the catalog, your own model (Hub or local file, also by drag and drop), stored models

/** Puts the model into the URL hash, unless the page shows the default model and has no hash yet. */
function syncHash() {
  if (location.hash || (sharedSpec()?.key ?? '') !== DEFAULT_MODEL.key) writeHash();
}

const fmtSize = (bytes) => (bytes >= 1e9 ? `${(bytes / 1e9).toFixed(2)} GB` : `${Math.round(bytes / 1e6)} MB`);

function buildCatalog() {
  for (const entry of CATALOG) {
    const option = el('label', 'model-option');
    option.dataset.key = entry.key;
    const radio = el('input');
    radio.type = 'radio';
    radio.name = 'catalog-model';
    radio.value = entry.key;
    radio.dataset.testid = `model-option-${entry.key}`;
    radio.disabled = Boolean(entry.unavailable);
    const body = el('span', 'model-option-body');
    const top = el('span', 'model-option-top');
    top.append(el('span', 'model-option-name', entry.name),
      el('span', 'model-option-size', entry.url ? `${(entry.bytes / 1e6).toFixed(1)} MB` : `about ${fmtSize(entry.bytes)}`),
      Object.assign(el('span', 'model-option-state'), { hidden: true }));
    const tags = el('span', 'model-option-tags');
    tags.append(el('span', `model-tag ${entry.fim ? 'is-fim' : 'is-prefix'}`, entry.fim ? FIM_LABEL.yes : FIM_LABEL.no));
    if (entry.unavailable) tags.append(el('span', 'model-tag is-soon', entry.unavailable));
    body.append(top, el('span', 'model-option-desc', entry.description), tags);
    if (entry.repo) body.append(el('span', 'model-option-source', `Hugging Face: ${entry.repo}`));
    else body.append(el('span', 'model-option-source', 'Comes with this page'));
    option.append(radio, body);
    if (entry.unavailable) option.classList.add('is-disabled');
    ui.catalog.append(option);
  }
  const first = ui.catalog.querySelector(`input[value="${DEFAULT_MODEL.key}"]`);
  if (first) first.checked = true;
}

const chosenKey = () => ui.catalog.querySelector('input:checked')?.value ?? '';

/** Marks the model in use / being loaded, and says what the Load button would do. */
function renderCatalog() {
  const inUse = state.loadedSpec?.kind === 'catalog' ? state.loadedSpec.key : '';
  const loadingKey = state.loading?.kind === 'catalog' ? state.loading.key : '';
  for (const option of ui.catalog.children) {
    const key = option.dataset.key;
    if (!key) continue;
    const label = key === loadingKey ? 'loading…' : key === inUse && state.modelLoaded ? 'in use' : '';
    const tag = option.querySelector('.model-option-state');
    tag.textContent = label;
    tag.hidden = !label;
    option.classList.toggle('is-current', key === inUse && state.modelLoaded);
  }
  refreshModelControls();
}

function refreshModelControls() {
  if (!ui.catalogLoad) return;
  const generating = state.status === 'generating';
  const key = chosenKey();
  const entry = CATALOG.find((m) => m.key === key);
  const inUse = state.modelLoaded && state.loadedSpec?.key === key;
  const loadingIt = state.loading?.key === key;
  ui.catalogLoad.disabled = generating || !entry || Boolean(entry.unavailable) || inUse || loadingIt;
  let hint = '';
  if (generating) hint = 'Wait for the guesses to finish (or press Cancel) to change the model.';
  else if (!entry) hint = '';
  else if (inUse) hint = 'This is the model in use.';
  else if (loadingIt) hint = 'Loading it now…';
  else if (entry.url) hint = 'It comes with this page: no download.';
  else if (state.cache.entries.some((c) => c.url === urlOf({ kind: 'catalog', entry }))) hint = 'Already stored in this browser: no download.';
  else hint = `Downloads about ${fmtSize(entry.bytes)} from Hugging Face, once.`;
  ui.catalogHint.textContent = hint;
  ui.customLoad.disabled = generating;
  ui.modelFile.disabled = generating;
  for (const button of ui.cacheList.querySelectorAll('button')) {
    button.disabled = state.cache.deleting.has(button.dataset.url);
  }
}

ui.catalog.addEventListener('change', () => refreshModelControls());

ui.catalogLoad.addEventListener('click', () => {
  const found = specFromKey(chosenKey());
  if (found.ok) loadModel(found.spec, { reveal: true });
  else showError(found.message);
});

function showCustomMessage(text) {
  ui.customMsg.textContent = text;
  ui.customMsg.hidden = !text;
}

ui.customForm.addEventListener('submit', (e) => {
  e.preventDefault();
  if (state.status === 'generating') return;
  const parsed = parseModelSource(ui.customRepo.value, ui.customFile.value);
  if (!parsed.ok) {
    showCustomMessage(parsed.message);
    (ui.customRepo.value.trim() ? ui.customFile : ui.customRepo).focus();
    return;
  }
  showCustomMessage('');
  loadModel(parsed.spec, { reveal: true });
});

ui.customRepo.addEventListener('input', () => showCustomMessage(''));
ui.customFile.addEventListener('input', () => showCustomMessage(''));

/**
 * Local files (chosen or dropped): the first .gguf loads; a safetensors model loads from its three files
 * (weights, config.json, tokenizer.json); anything else, or a missing companion, gets a message naming it.
 */
function openLocalFiles(files) {
  if (!files.length) return;
  if (state.status === 'generating') {
    showError('The model is busy guessing. Press Cancel (or wait), then choose the file again.');
    return;
  }
  const found = localModelFiles(files);
  if (!found.ok) {
    showError(found.message);
    bringIntoView(ui.error);
    return;
  }
  const { file, config, tokenizer } = found.model;
  loadModel(config
    ? { kind: 'file', blob: file, config, tokenizer, name: file.name, key: '' }
    : { kind: 'file', blob: file, name: file.name, key: '' }, { reveal: true });
}

ui.modelFile.addEventListener('change', () => {
  const files = [...(ui.modelFile.files ?? [])];
  ui.modelFile.value = ''; // choosing the same file again loads it again
  openLocalFiles(files);
});

// Drag and drop anywhere on the page. Text dragged into the editor is left alone: only files count.
let dragDepth = 0;
const carriesFiles = (e) => Array.from(e.dataTransfer?.types ?? []).includes('Files');
const showDrop = (on) => { ui.dropOverlay.hidden = !on; document.body.classList.toggle('is-dragging', on); };

document.addEventListener('dragenter', (e) => {
  if (!carriesFiles(e)) return;
  e.preventDefault();
  dragDepth += 1;
  showDrop(true);
});
document.addEventListener('dragover', (e) => {
  if (!carriesFiles(e)) return;
  e.preventDefault();
  if (e.dataTransfer) e.dataTransfer.dropEffect = 'copy';
});
document.addEventListener('dragleave', (e) => {
  if (!carriesFiles(e)) return;
  dragDepth = Math.max(0, dragDepth - 1);
  if (dragDepth === 0) showDrop(false);
});
document.addEventListener('drop', (e) => {
  if (!carriesFiles(e)) return;
  e.preventDefault();
  dragDepth = 0;
  showDrop(false);
  openLocalFiles(Array.from(e.dataTransfer.files ?? []));
});
window.addEventListener('blur', () => { dragDepth = 0; showDrop(false); });

// Stored models

function requestCacheList() {
  if (state.worker && state.workerReady) post(cacheListRequest(state.nextId++));
}

function onCache(entries, quota) {
  state.cache.entries = entries
    .map((e) => ({ url: String(e?.url ?? ''), name: String(e?.name ?? ''), bytes: Number(e?.bytes) || 0 }))
    .filter((e) => e.url);
  state.cache.quota = quota;
  state.cache.deleting.clear();
  renderCache();
  refreshModelControls();
}

function renderCache() {
  const inUseUrl = state.modelLoaded ? urlOf(state.loadedSpec) : '';
  const frag = document.createDocumentFragment();
  let total = 0;
  state.cache.entries.forEach((entry, i) => {
    total += entry.bytes;
    const catalog = CATALOG.find((m) => urlOf({ kind: 'catalog', entry: m }) === entry.url);
    const li = el('li', 'cache-entry');
    li.dataset.testid = `cache-entry-${i}`;
    const info = el('span', 'cache-info');
    const top = el('span', 'cache-top');
    top.append(el('span', 'cache-name', catalog?.name ?? entry.name), el('span', 'cache-size', `${mb(entry.bytes)} MB`));
    if (entry.url === inUseUrl) top.append(el('span', 'cache-in-use', 'in use'));
    info.append(top, el('span', 'cache-url', entry.url));
    const del = el('button', 'btn btn-small btn-ghost cache-delete', 'Delete');
    del.type = 'button';
    del.dataset.testid = `cache-delete-${i}`;
    del.dataset.url = entry.url;
    del.setAttribute('aria-label', `Delete ${catalog?.name ?? entry.name} (${mb(entry.bytes)} MB) from this browser`);
    del.disabled = state.cache.deleting.has(entry.url);
    li.append(info, del);
    frag.append(li);
  });
  if (state.cache.entries.length === 0) frag.append(el('li', 'cache-empty', 'No models stored yet.'));
  ui.cacheList.replaceChildren(frag);
  const n = state.cache.entries.length;
  const quota = state.cache.quota;
  const summary = n === 0 ? ''
    : `${n} model${n === 1 ? '' : 's'} · ${mb(total)} MB in total${quota ? ` · this browser lets the page store up to about ${fmtSize(quota)}` : ''}.`;
  ui.cacheTotal.textContent = [summary, state.cache.note].filter(Boolean).join(' ');
}

ui.cacheList.addEventListener('click', (e) => {
  const button = e.target.closest('button.cache-delete');
  if (!button || button.disabled) return;
  const url = button.dataset.url;
  state.cache.deleting.add(url);
  button.disabled = true;
  const inUse = state.modelLoaded && url === urlOf(state.loadedSpec);
  state.cache.note = inUse ? 'The deleted model stays loaded until this tab closes; the next visit downloads it again.' : '';
  ui.cacheTotal.textContent = 'Deleting…';
  post(cacheDeleteRequest(state.nextId++, url));
});

ui.models.addEventListener('toggle', () => { if (ui.models.open) requestCacheList(); });

// ---------------------------------------------------------------------------------------------------------
// Running a completion

function startCompletion() {
  if (ui.complete.disabled) return;
  const lines = getLines();
  if (!state.masked || state.masked > lines.length) return;
  hideError();
  clearRun();
  state.runId = state.nextId++;
  state.runLine = state.masked;
  state.cancelling = false;
  state.lastStep = 0;
  state.promptTokens = null;
  state.reading = null;
  readSettings({ rewrite: true });
  setStatus('generating');
  ui.beamsStep.textContent = 'Reading the code…';
  ui.beamsEmpty.textContent = 'The model is reading the code…';
  renderLines();
  refresh();
  post(completeRequest(state.runId, state.code, state.masked, state.settings));
}

function cancelRun() {
  if (state.runId === null || state.cancelling || state.status !== 'generating') return;
  state.cancelling = true;
  post(cancelRequest(state.runId));
  refresh();
}

function endRun() {
  state.runId = null;
  state.cancelling = false;
  // Beams still growing when a run stops early are frozen as they are.
  for (const li of ui.beams.children) {
    if (!li.classList.contains('is-finished')) li.querySelector('.beam-flag').textContent = 'stopped';
  }
}

function onDone(result) {
  endRun();
  scheduleReadAhead({ again: true });
  state.restarts = 0;
  state.result = result;
  if (Array.isArray(result.beams) && result.beams.length) renderBeams(result.beams, { live: false });
  const steps = Number(result.stats?.generated_tokens ?? state.lastStep) || 0;
  ui.beamsStep.textContent = `Finished after ${steps} token${steps === 1 ? '' : 's'}`;
  renderResults(result);
  setStatus('done');
  renderLines();
  refresh();
  ui.results.scrollIntoView?.({ behavior: matchMedia('(prefers-reduced-motion: reduce)').matches ? 'auto' : 'smooth', block: 'nearest' });
}

function onCancelled() {
  endRun();
  scheduleReadAhead({ again: true });
  ui.beamsStep.textContent = `Stopped after ${state.lastStep} token${state.lastStep === 1 ? '' : 's'}`;
  setStatus(state.modelLoaded ? 'ready' : 'loading', 'Stopped');
  renderLines();
  refresh();
}

function onWorkerError(id, message, fatal) {
  if (fatal) { engineFailed(message); return; }
  if (id !== null && id === state.runId) {
    endRun();
    ui.beamsStep.textContent = 'Stopped by an error';
    setStatus('error');
    showError(message);
    renderLines();
    refresh();
  } else if (id !== null && id === state.loadId && state.loading) {
    loadFailed(message, { stopped: id === state.stoppingId });
  } else if (id !== null && state.loadIds.has(id)) {
    // An answer to a load that a newer one replaced: nobody is waiting for it.
  } else {
    // A warning that stops nothing (e.g. the model could not be cached): show it and carry on.
    showError(message);
  }
}

// ---------------------------------------------------------------------------------------------------------
// Reading ahead: while the person chooses a line, the engine reads the code (src/protocol.rs
// Request::ReadAhead). Any request to the engine stops it, keeping what it read, and the `complete` for a line
// continues from there: the same guesses, sooner. Only in whole-file context (a function's prompt depends on
// the line) and for code the model's context holds (src/engine.rs Engine::read_ahead says no to the rest).

const READ_AHEAD_DELAY_MS = 700;     // after the last keystroke
const READ_AHEAD_MAX_CHARS = 256_000; // far beyond any catalog model's context: not worth tokenizing
const READ_AHEAD_SHOWN_TOKENS = 256; // shorter code reads in a moment: nothing to say
let readAheadTimer = 0;

/** Reads the code ahead soon; `again`: even if this code was read ahead already (a run since moved the cache). */
function scheduleReadAhead({ again = false } = {}) {
  clearTimeout(readAheadTimer);
  if (again && state.readAhead) state.readAhead.key = '';
  readAheadTimer = setTimeout(readAheadNow, READ_AHEAD_DELAY_MS);
}

function readAheadNow() {
  const idle = state.modelLoaded && state.workerReady && !state.loading && state.status !== 'generating'
    && state.runId === null && !batch.isActive();
  if (!idle || state.settings.context !== 'file' || state.code.length > READ_AHEAD_MAX_CHARS) return;
  if (getLines().filter((l) => !isBlank(l)).length < 2) return;
  const key = JSON.stringify([state.loadedId, state.code, state.settings]);
  if (state.readAhead?.key === key) return;
  state.readAhead = { id: state.nextId++, key, read: 0, total: 0, done: false };
  post(readAheadRequest(state.readAhead.id, state.code, state.settings));
  renderReadAhead();
}

function renderReadAhead() {
  const r = state.readAhead;
  const show = Boolean(r) && r.total > READ_AHEAD_SHOWN_TOKENS && state.status !== 'generating';
  ui.readAhead.hidden = !show;
  if (!show) return;
  ui.readAhead.dataset.done = String(r.done);
  ui.readAhead.textContent = r.done
    ? `The model has read ${fmtInt.format(r.read)} of this code's ${fmtInt.format(r.total)} tokens already, so its guesses will start sooner.`
    : `Reading your code while you choose a line: ${fmtInt.format(r.read)} of ${fmtInt.format(r.total)} tokens.`;
}

/** Forgets the last run's output (the code, mask or settings changed). */
function clearRun() {
  if (state.status === 'generating') return;
  state.result = null;
  ui.results.hidden = true;
  ui.beams.replaceChildren();
  ui.beamsEmpty.hidden = false;
  ui.beamsEmpty.textContent = 'Guesses will appear here once you press Complete.';
  ui.beamsStep.textContent = '';
  ui.codeNote.hidden = true;
  ui.codeNote.textContent = '';
  ui.prompt.replaceChildren(el('span', 'muted', 'Press Complete to see the prompt.'));
  ui.promptMeta.textContent = '';
  if (state.status === 'done' || (state.status === 'error' && !state.loadFailed && state.modelLoaded)) setStatus('ready');
}

ui.complete.addEventListener('click', startCompletion);
ui.cancel.addEventListener('click', cancelRun);
ui.random.addEventListener('click', randomMask);

// ---------------------------------------------------------------------------------------------------------
// Prompt and beams

/** “Reading the code… 1,280 of 3,044 tokens (42%)”, or without the figures when they are missing. */
function readingText(read, total) {
  if (!Number.isFinite(read) || !Number.isFinite(total) || total <= 0) return 'Reading the code…';
  const done = Math.min(read, total);
  return `Reading the code… ${fmtInt.format(done)} of ${fmtInt.format(total)} tokens (${Math.floor((100 * done) / total)}%)`;
}

function renderPrompt(prompt, promptTokens) {
  ui.prompt.replaceChildren();
  let last = 0;
  for (const m of prompt.matchAll(SPECIAL_TOKEN_RE)) {
    if (m.index > last) ui.prompt.append(document.createTextNode(prompt.slice(last, m.index)));
    ui.prompt.append(el('span', 'special-token', m[0]));
    last = m.index + m[0].length;
  }
  if (last < prompt.length) ui.prompt.append(document.createTextNode(prompt.slice(last)));
  if (!prompt) ui.prompt.append(el('span', 'muted', '(empty prompt)'));
  const n = Number(promptTokens);
  ui.promptMeta.textContent = Number.isFinite(n) ? `· ${fmtInt.format(n)} tokens` : '';
  ui.beamsStep.textContent = 'Thinking…';
}

function renderBeams(beams, { live }) {
  ui.beamsEmpty.hidden = beams.length > 0;
  const items = ui.beams.children;
  beams.forEach((beam, i) => {
    let li = items[i];
    if (!li) {
      li = el('li', 'beam');
      li.append(el('span', 'beam-rank', i + 1));
      const text = el('code', 'beam-text');
      text.dataset.testid = `beam-${i}`;
      li.append(text);
      const meta = el('span', 'beam-meta');
      const score = el('span', 'beam-score');
      score.title = 'Confidence score (log-probability): closer to 0 means the model is more sure.';
      meta.append(score, el('span', 'beam-flag'));
      li.append(meta);
      ui.beams.append(li);
    }
    const text = String(beam?.text ?? '');
    const textEl = li.querySelector('.beam-text');
    if (textEl.textContent !== text) setVisibleText(textEl, text);
    const score = Number(beam?.score);
    li.querySelector('.beam-score').textContent = Number.isFinite(score) ? score.toFixed(3) : '–';
    const finished = Boolean(beam?.finished);
    li.querySelector('.beam-flag').textContent = finished ? '✓ complete' : live ? 'growing…' : 'cut off';
    li.classList.toggle('is-finished', finished);
    li.classList.toggle('is-best', i === 0);
  });
  while (items.length > beams.length) items[items.length - 1].remove();
  if (live) {
    const n = beams.length;
    ui.beamsStep.textContent = `Step ${state.lastStep} · ${n} guess${n === 1 ? '' : 'es'}`;
  }
}

// ---------------------------------------------------------------------------------------------------------
// Results

const METRICS = [
  { key: 'exact', name: 'Exact match', digits: 0, scale: '0 or 1',
    explain: '1 if the guess is exactly the hidden line, character for character; otherwise 0.' },
  { key: 'exact_stripped', name: 'Exact, ignoring edge spaces', digits: 0, scale: '0 or 1',
    explain: 'The same, but spaces at the start and end of the line do not count.' },
  { key: 'chrf', name: 'chrF', digits: 2, scale: '0–100', max: 100,
    explain: 'How many short character sequences the guess shares with the hidden line — 100 means identical.' },
  { key: 'chrf_pp', name: 'chrF++', digits: 2, scale: '0–100', max: 100,
    explain: 'Like chrF, but shared whole words count too — 100 means identical.' },
  { key: 'bleu', name: 'BLEU', digits: 2, scale: '0–100', max: 100,
    explain: 'How many words and short runs of words match the hidden line — 100 means identical.' },
  { key: 'wer', name: 'Word error rate', digits: 3, scale: 'lower is better', lowerIsBetter: true,
    explain: 'The share of words you would have to change, add or remove to fix the guess — 0 is perfect.' },
  { key: 'iou', name: 'Token overlap (IoU)', digits: 3, scale: '0–1', max: 1,
    explain: 'Of all the distinct pieces in either line, the share found in both — 1 means the same pieces.' },
  { key: 'edit_sim', name: 'Edit similarity', digits: 3, scale: '0–1', max: 1,
    explain: 'How few single-character edits turn the guess into the hidden line — 1 means identical.' },
  { key: 'cosine', name: 'Meaning similarity (cosine)', digits: 3, scale: '0–1', max: 1,
    explain: 'How alike the two lines look inside the model\'s own internal representation — 1 means the same.' },
];

const metricEls = new Map();

function buildMetrics() {
  for (const m of METRICS) {
    const card = el('article', 'metric');
    const top = el('div', 'metric-top');
    top.append(el('h4', 'metric-name', m.name), el('span', 'metric-scale', m.scale));
    const value = el('div', 'metric-value', '–');
    value.dataset.testid = `metric-${m.key}`;
    value.id = `metric-${m.key}`;
    const bar = el('div', 'metric-bar');
    const fill = el('span', 'metric-fill');
    bar.append(fill);
    bar.setAttribute('aria-hidden', 'true');
    const explain = el('p', 'metric-explain', m.explain);
    const link = el('a', 'metric-link', 'Precise definition');
    link.href = `docs/metrics.html#${m.key}`;
    link.setAttribute('aria-label', `Precise definition of ${m.name}`);
    card.append(top, value, bar, explain, link);
    ui.metrics.append(card);
    metricEls.set(m.key, { card, value, fill });
  }
}

function metricNumber(raw) {
  if (raw === true) return 1;
  if (raw === false) return 0;
  if (raw === null || raw === undefined || raw === '') return null;
  const n = Number(raw);
  return Number.isFinite(n) ? n : null;
}

function renderMetrics(scores, cosine) {
  for (const m of METRICS) {
    const { card, value, fill } = metricEls.get(m.key);
    const n = metricNumber(m.key === 'cosine' ? cosine : scores?.[m.key]);
    if (n === null) {
      value.textContent = '–';
      value.removeAttribute('data-value');
      fill.style.width = '0%';
      card.dataset.quality = 'none';
      continue;
    }
    value.textContent = m.digits === 0 ? String(n ? 1 : 0) : n.toFixed(m.digits);
    value.dataset.value = String(n); // full precision, for tests and copy-paste
    const goodness = m.lowerIsBetter ? Math.max(0, 1 - n) : m.max ? n / m.max : n;
    const g = Math.min(1, Math.max(0, goodness));
    fill.style.width = `${(g * 100).toFixed(1)}%`;
    card.dataset.quality = g >= 0.8 ? 'high' : g >= 0.4 ? 'mid' : 'low';
  }
}

function renderResults(result) {
  const target = String(result.target ?? '');
  const completion = String(result.completion ?? '');
  setVisibleText(ui.target, target);
  setVisibleText(ui.completion, completion);
  ui.targetWhere.textContent = `(line ${state.runLine})`;
  renderDiff(completion, target);
  renderMetrics(result.scores ?? {}, result.cosine ?? null);
  renderFigures(result.stats ?? {});

  const exact = metricNumber(result.scores?.exact) === 1;
  const stripped = metricNumber(result.scores?.exact_stripped) === 1;
  const chrf = metricNumber(result.scores?.chrf);
  let verdict; let tone;
  if (exact) { verdict = 'Exact match — the model got it!'; tone = 'high'; }
  else if (stripped) { verdict = 'Right, apart from spacing'; tone = 'high'; }
  else if (chrf !== null && chrf >= 70) { verdict = 'Very close'; tone = 'high'; }
  else if (chrf !== null && chrf >= 40) { verdict = 'Partly right'; tone = 'mid'; }
  else { verdict = 'Quite different'; tone = 'low'; }
  ui.verdict.textContent = verdict;
  ui.verdict.dataset.quality = tone;
  ui.results.hidden = false;
}

function renderFigures(stats) {
  const num = (v) => { const n = Number(v); return Number.isFinite(n) ? n : null; };
  const tps = num(stats.tokens_per_second);
  const trimmed = num(stats.trimmed_lines) ?? 0;
  const prompt = num(stats.prompt_tokens);
  const reused = Math.min(num(stats.cached_tokens) ?? 0, prompt ?? 0);
  // A prompt that begins like the one before (another line lower in the same code, or the same line after
  // a stop) continues from where the engine's reading of it got to.
  const reusedNote = reused > 0
    ? ` The first ${fmtInt.format(reused)} had been read already, for an earlier run on this code, so ${fmtInt.format(prompt - reused)} ${prompt - reused === 1 ? 'was' : 'were'} new.`
    : '';
  const rows = [
    ['tokens_per_second', 'Speed', tps === null ? '–' : `${tps.toFixed(1)} tokens/s`,
      'Word-pieces written per second, after the first one.'],
    ['first_token_ms', 'Time to first token', fmtMs(num(stats.first_token_ms) ?? NaN),
      'How long it took to read the code and write the first word-piece.'],
    ['prompt_tokens', 'Prompt length', num(stats.prompt_tokens) === null ? '–'
      : `${fmtInt.format(num(stats.prompt_tokens))} tokens${trimmed > 0 ? ` · ${fmtInt.format(trimmed)} lines left out` : ''}`,
    trimmed > 0 ? `The code is longer than the model's context, so the ${fmtInt.format(trimmed)} lines farthest from the hidden line were left out of the prompt.`
      : `How much text the model had to read.${reusedNote}`],
    ['generated_tokens', 'Tokens written', num(stats.generated_tokens) === null ? '–' : fmtInt.format(num(stats.generated_tokens)),
      'Decoding steps taken.'],
    ['total_ms', 'Total time', fmtMs(num(stats.total_ms) ?? NaN), 'From pressing Complete to the result.'],
  ];
  ui.figures.replaceChildren();
  for (const [key, label, value, help] of rows) {
    const box = el('div', 'figure');
    const dd = el('dd', 'figure-value', value);
    dd.dataset.testid = `stat-${key}`;
    box.append(el('dt', 'figure-label', label), dd, el('p', 'figure-help', help));
    ui.figures.append(box);
  }
}

/**
 * Character-level diff (LCS over code points) turning `a` (the guess) into `b` (the hidden line).
 * @returns {{op: 'same'|'del'|'ins', text: string}[]}
 */
export function diffChars(a, b) {
  const x = Array.from(a);
  const y = Array.from(b);
  // Trim the common prefix and suffix: cheap and keeps the table small.
  let start = 0;
  while (start < x.length && start < y.length && x[start] === y[start]) start++;
  let endX = x.length; let endY = y.length;
  while (endX > start && endY > start && x[endX - 1] === y[endY - 1]) { endX--; endY--; }
  const xs = x.slice(start, endX);
  const ys = y.slice(start, endY);
  const ops = [];
  const push = (op, ch) => {
    const last = ops[ops.length - 1];
    if (last && last.op === op) last.text += ch; else ops.push({ op, text: ch });
  };
  for (const ch of x.slice(0, start)) push('same', ch);
  const n = xs.length; const m = ys.length;
  if (n * m > 4_000_000) {
    for (const ch of xs) push('del', ch);
    for (const ch of ys) push('ins', ch);
  } else {
    // L[i][j] = LCS length of xs[i..] and ys[j..]
    const w = m + 1;
    const L = new Uint32Array((n + 1) * w);
    for (let i = n - 1; i >= 0; i--) {
      for (let j = m - 1; j >= 0; j--) {
        L[i * w + j] = xs[i] === ys[j] ? L[(i + 1) * w + j + 1] + 1 : Math.max(L[(i + 1) * w + j], L[i * w + j + 1]);
      }
    }
    let i = 0; let j = 0;
    while (i < n && j < m) {
      if (xs[i] === ys[j]) { push('same', xs[i]); i++; j++; }
      else if (L[(i + 1) * w + j] >= L[i * w + j + 1]) { push('del', xs[i]); i++; }
      else { push('ins', ys[j]); j++; }
    }
    while (i < n) push('del', xs[i++]);
    while (j < m) push('ins', ys[j++]);
  }
  for (const ch of x.slice(endX)) push('same', ch);
  return ops;
}

function renderDiff(guess, target) {
  ui.diff.replaceChildren();
  const ops = diffChars(guess, target);
  if (ops.length === 0) { ui.diff.append(el('span', 'muted', '(both empty)')); return; }
  for (const { op, text } of ops) {
    const node = op === 'same' ? el('span', 'diff-same') : el(op === 'ins' ? 'ins' : 'del', `diff-${op}`);
    appendVisible(node, text, { allSpaces: op !== 'same' });
    ui.diff.append(node);
  }
}

// ---------------------------------------------------------------------------------------------------------
// Keyboard shortcuts

document.addEventListener('keydown', (e) => {
  if ((e.ctrlKey || e.metaKey) && e.key === 'Enter') {
    e.preventDefault();
    startCompletion();
  } else if (e.key === 'Escape' && state.status === 'generating') {
    e.preventDefault();
    cancelRun();
  } else if (e.altKey && !e.ctrlKey && !e.metaKey && (e.code === 'KeyR' || e.key === 'r' || e.key === 'R')) {
    e.preventDefault();
    randomMask();
  }
});

// ---------------------------------------------------------------------------------------------------------
// Start

function init() {
  buildMetrics();
  buildCatalog();
  if (state.hub.warning) state.hashProblem = state.hub.warning;
  setCode(EXAMPLE);
  readHash();
  showSettings();
  renderLines();
  refresh();
  startWorker();
  batch.attach({
    post, nextId: () => state.nextId++, ready: () => Boolean(state.worker && state.workerReady),
    model: () => (state.modelLoaded && state.workerReady && state.model
      ? { name: state.model.name, key: state.loadedSpec?.key ?? '', fileBytes: state.model.file_bytes } : null),
    // The loaded model, for extra batch engines to load the same way (a stored download, or the same local file).
    modelSource: () => (state.modelLoaded && state.loadedSpec
      ? { key: `${state.loadedId}`, name: state.loadedSpec.name, ...loadParts(state.loadedSpec) } : null),
    spawnWorker: newWorker,
    settings: () => ({ ...state.settings }), worker: () => state.worker, diffChars, showError,
  });
  refresh();
}

init();
