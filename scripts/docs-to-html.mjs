#!/usr/bin/env node
// Renders the project's own Markdown docs (docs/*.md) to standalone HTML pages in the build output, so
// the page's "Precise definition" links open a readable page offline. Handles the subset of Markdown the
// docs use: headings, paragraphs, lists, tables, code blocks and spans, emphasis, links, and raw
// `<a id>` anchors. Usage: node scripts/docs-to-html.mjs OUT_DIR (run by Trunk as a post_build hook).
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';

const escape = (s) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

function inline(text) {
  const parts = text.split(/(`[^`]*`)/);
  return parts.map((p) => {
    if (p.startsWith('`') && p.endsWith('`') && p.length >= 2) return `<code>${escape(p.slice(1, -1))}</code>`;
    return escape(p)
      .replace(/\*\*([^*]+)\*\*/g, '<strong>$1</strong>')
      .replace(/\*([^*]+)\*/g, '<em>$1</em>')
      .replace(/\[([^\]]+)\]\(([^)\s]+)\)/g, (_, t, href) => `<a href="${href.replace(/\.md(#|$)/, '.html$1')}">${t}</a>`);
  }).join('');
}

function render(md) {
  const lines = md.split('\n');
  const out = [];
  let i = 0;
  const para = [];
  const flush = () => { if (para.length) { out.push(`<p>${inline(para.join(' '))}</p>`); para.length = 0; } };
  while (i < lines.length) {
    const line = lines[i];
    const anchor = line.match(/^<a id="([\w-]+)"><\/a>$/);
    if (anchor) { flush(); out.push(`<a id="${anchor[1]}"></a>`); i++; continue; }
    if (line.startsWith('```')) {
      flush();
      const code = [];
      for (i++; i < lines.length && !lines[i].startsWith('```'); i++) code.push(lines[i]);
      out.push(`<pre><code>${escape(code.join('\n'))}</code></pre>`);
      i++;
      continue;
    }
    const h = line.match(/^(#{1,4}) (.*)$/);
    if (h) { flush(); out.push(`<h${h[1].length}>${inline(h[2])}</h${h[1].length}>`); i++; continue; }
    if (line.startsWith('|')) {
      flush();
      const rows = [];
      for (; i < lines.length && lines[i].startsWith('|'); i++) rows.push(lines[i]);
      const cells = (r) => r.replace(/^\||\|$/g, '').split(/(?<!\\)\|/).map((c) => inline(c.trim().replace(/\\\|/g, '|')));
      const body = rows.filter((r, k) => k !== 1 || !/^\|[\s:|-]+\|$/.test(r));
      out.push('<table>' + body.map((r, k) => `<tr>${cells(r).map((c) => (k === 0 ? `<th>${c}</th>` : `<td>${c}</td>`)).join('')}</tr>`).join('') + '</table>');
      continue;
    }
    const li = line.match(/^(\s*)([-*]|\d+\.) (.*)$/);
    if (li) {
      flush();
      const ordered = /\d/.test(li[2]);
      const items = [];
      for (; i < lines.length; i++) {
        const m = lines[i].match(/^(\s*)([-*]|\d+\.) (.*)$/);
        if (m) items.push(m[3]);
        else if (/^\s{2,}\S/.test(lines[i]) && items.length) items[items.length - 1] += ' ' + lines[i].trim();
        else break;
      }
      const tag = ordered ? 'ol' : 'ul';
      out.push(`<${tag}>${items.map((t) => `<li>${inline(t)}</li>`).join('')}</${tag}>`);
      continue;
    }
    if (line.trim() === '') { flush(); i++; continue; }
    para.push(line.trim());
    i++;
  }
  flush();
  return out.join('\n');
}

const STYLE = `body{font:16px/1.6 system-ui,sans-serif;max-width:52rem;margin:2rem auto;padding:0 1rem;color:#1f2430}
code,pre{font-family:ui-monospace,monospace;background:#f3f4f8;border-radius:4px}code{padding:0 .25em}pre{padding:.75rem;overflow:auto}
table{border-collapse:collapse;margin:1rem 0;font-size:.9rem;display:block;overflow-x:auto}th,td{border:1px solid #d6d9e3;padding:.3rem .5rem;text-align:left;vertical-align:top}
th{background:#f3f4f8}h2{margin-top:2.2rem;border-top:1px solid #e5e7ef;padding-top:1.2rem}a{color:#4338ca}`;

const outDir = process.argv[2];
if (!outDir) { console.error('usage: docs-to-html.mjs OUT_DIR'); process.exit(2); }
const docs = new URL('../docs/', import.meta.url);
mkdirSync(join(outDir, 'docs'), { recursive: true });
for (const f of readdirSync(docs).filter((n) => n.endsWith('.md'))) {
  const md = readFileSync(new URL(f, docs), 'utf8');
  const title = (md.match(/^# (.*)$/m) || [null, f])[1];
  writeFileSync(join(outDir, 'docs', basename(f, '.md') + '.html'),
    `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">` +
    `<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src 'self'">` +
    `<title>${escape(title)} · Infill</title><style>${STYLE}</style></head><body><p><a href="../index.html">← Back to the playground</a></p>\n${render(md)}\n</body></html>\n`);
}
