// A minimal static file server for dist/ on 127.0.0.1, used by the browser tests (no dependencies).
//
// It answers `Range: bytes=N-[M]` requests (206 + Content-Range) and says `Accept-Ranges: bytes`. Tests can
// also make it play the Hugging Face Hub: set `server.hub.dir`, and `/hub/{owner}/{repo}/resolve/main/{file}`
// is served from `{dir}/{owner}/{repo}/{file}`. `server.hub.dropOnce` (paths) cuts the connection once after
// `server.hub.dropAfter` bytes (it sends them, waits `server.hub.dropDelayMs` so the page has read them, as on a
// link that stalls and then drops, and then destroys the socket); `server.hub.bytesPerSecond` slows hub downloads down so progress is visible.
// Every request is logged in `server.requests` as {path, range, status}.
import { createServer } from 'node:http';
import { createReadStream, statSync } from 'node:fs';
import { extname, join, normalize } from 'node:path';

const TYPES = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript', '.mjs': 'text/javascript',
  '.css': 'text/css', '.wasm': 'application/wasm', '.json': 'application/json', '.png': 'image/png',
  '.svg': 'image/svg+xml', '.md': 'text/markdown; charset=utf-8',
};

const HUB = /^\/hub\/([^/]+)\/([^/]+)\/resolve\/main\/(.+)$/;

/** Streams bytes [start, end] of `file` to `res`, at most `rate` bytes per second (0 = unlimited). */
function send(res, file, start, end, rate, cutAfter, cutDelayMs = 0) {
  const stream = createReadStream(file, { start, end, highWaterMark: 256 * 1024 });
  let sent = 0;
  stream.on('data', (chunk) => {
    if (cutAfter > 0 && sent + chunk.length >= cutAfter) {
      stream.destroy();
      res.write(chunk.subarray(0, cutAfter - sent), () => setTimeout(() => res.socket?.destroy(), cutDelayMs));
      return;
    }
    sent += chunk.length;
    const more = res.write(chunk);
    if (rate > 0) {
      stream.pause();
      setTimeout(() => stream.resume(), (1000 * chunk.length) / rate);
    } else if (!more) {
      stream.pause();
      res.once('drain', () => stream.resume());
    }
  });
  stream.on('end', () => res.end());
  stream.on('error', () => res.socket?.destroy());
  res.on('close', () => stream.destroy());
}

/** Serves `root` on 127.0.0.1:`port`; resolves to the server once it listens. */
export function serve(root, port = 0) {
  const hub = { dir: null, dropOnce: new Set(), dropAfter: 1 << 20, dropDelayMs: 1500, bytesPerSecond: 0 };
  const requests = [];
  const server = createServer((req, res) => {
    const urlPath = decodeURIComponent(new URL(req.url, 'http://x').pathname);
    const path = normalize(urlPath).replace(/^(\.\.[/\\])+/, '');
    const range = req.headers.range ?? null;
    const log = { path: urlPath, range, status: 0 };
    requests.push(log);
    const notFound = () => {
      log.status = 404;
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end('not found');
    };
    const hubMatch = HUB.exec(path);
    let file;
    if (hubMatch) {
      if (!hub.dir || hubMatch.slice(1).some((p) => p.split('/').includes('..'))) return notFound();
      file = join(hub.dir, hubMatch[1], hubMatch[2], hubMatch[3]);
    } else {
      file = join(root, path);
    }
    let size;
    try {
      if (statSync(file).isDirectory()) file = join(file, 'index.html');
      size = statSync(file).size;
    } catch {
      return notFound();
    }
    const type = TYPES[extname(file)] || 'application/octet-stream';
    const rate = hubMatch ? hub.bytesPerSecond : 0;
    const m = range ? /^bytes=(\d+)-(\d*)$/.exec(range) : null;
    if (m) {
      const start = Number(m[1]);
      const end = m[2] === '' ? size - 1 : Math.min(size - 1, Number(m[2]));
      if (start >= size || end < start) {
        log.status = 416;
        res.writeHead(416, { 'content-range': `bytes */${size}` });
        res.end();
        return;
      }
      log.status = 206;
      res.writeHead(206, {
        'content-type': type, 'content-length': end - start + 1, 'accept-ranges': 'bytes',
        'content-range': `bytes ${start}-${end}/${size}`,
      });
      send(res, file, start, end, rate, 0);
      return;
    }
    const cut = hub.dropOnce.delete(urlPath) ? hub.dropAfter : 0;
    log.status = 200;
    log.cut = cut > 0;
    res.writeHead(200, { 'content-type': type, 'content-length': size, 'accept-ranges': 'bytes' });
    send(res, file, 0, size - 1, rate, cut, hub.dropDelayMs);
  });
  server.hub = hub;
  server.requests = requests;
  return new Promise((resolve) => server.listen(port, '127.0.0.1', () => resolve(server)));
}
