// The benchmark's static server on 127.0.0.1, cross-origin isolated (COOP/COEP), so wllama can run its
// multi-threaded build (SharedArrayBuffer) in the same page and the same run as Infill.
//
// Routes: `/bench/…` from bench/, `/wllama/…` from wllama's ES module build, `/bench-models/…` from
// bench/out/ (the converted Q8_0 model), everything else from dist/ (the page's worker, wasm and models).
import { createServer } from 'node:http';
import { createReadStream, statSync } from 'node:fs';
import { extname, join, normalize } from 'node:path';

const TYPES = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript', '.mjs': 'text/javascript',
  '.wasm': 'application/wasm', '.json': 'application/json', '.py': 'text/plain; charset=utf-8',
};

/** Serves `routes` (URL prefix → folder, longest prefix first) on 127.0.0.1; resolves once it listens. */
export function serve(routes) {
  const table = Object.entries(routes).sort((a, b) => b[0].length - a[0].length);
  const server = createServer((req, res) => {
    const urlPath = decodeURIComponent(new URL(req.url, 'http://x').pathname);
    const path = normalize(urlPath).replace(/^(\.\.[/\\])+/, '');
    const [prefix, dir] = table.find(([p]) => path.startsWith(p)) ?? [];
    const headers = {
      'cross-origin-opener-policy': 'same-origin',
      'cross-origin-embedder-policy': 'require-corp',
      'cross-origin-resource-policy': 'same-origin',
      'cache-control': 'no-store',
    };
    let file = dir ? join(dir, path.slice(prefix.length)) : null;
    let size = 0;
    try {
      if (statSync(file).isDirectory()) file = join(file, 'index.html');
      size = statSync(file).size;
    } catch {
      res.writeHead(404, { ...headers, 'content-type': 'text/plain' });
      res.end('not found');
      return;
    }
    res.writeHead(200, { ...headers, 'content-type': TYPES[extname(file)] || 'application/octet-stream', 'content-length': size });
    createReadStream(file).pipe(res);
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}
