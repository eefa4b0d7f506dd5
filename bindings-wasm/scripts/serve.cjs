// Serves this package's folder on 127.0.0.1 (a secure context, so OPFS and Web Locks are there),
// for the example page and the browser tests: `npm run serve` then open the printed address.
// Usage: node scripts/serve.cjs [PORT] (default 8080; 0 takes any free port).
'use strict';
const http = require('node:http');
const fs = require('node:fs');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..');
const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.cjs': 'text/javascript; charset=utf-8',
  '.wasm': 'application/wasm',
  '.json': 'application/json',
  '.css': 'text/css; charset=utf-8',
};

/** Starts the server; resolves to its base address. `roots` maps URL prefixes to folders;
 * `headers` are added to every answer (the benchmark's probe asks for cross-origin isolation). */
function serve(port = 8080, roots = { '/': ROOT }, headers = {}) {
  const server = http.createServer((request, response) => {
    const url = new URL(request.url, 'http://127.0.0.1');
    const pathname = decodeURIComponent(url.pathname);
    const prefix = Object.keys(roots).filter((p) => pathname.startsWith(p)).sort((a, b) => b.length - a.length)[0];
    const base = roots[prefix];
    let file = path.join(base, pathname.slice(prefix.length));
    if (!file.startsWith(base)) {
      response.writeHead(403).end();
      return;
    }
    if (fs.existsSync(file) && fs.statSync(file).isDirectory()) file = path.join(file, 'index.html');
    fs.readFile(file, (err, body) => {
      if (err) {
        response.writeHead(404, { 'Content-Type': 'text/plain' }).end(`not found: ${pathname}`);
        return;
      }
      response.writeHead(200, { 'Content-Type': TYPES[path.extname(file)] || 'application/octet-stream', 'Cache-Control': 'no-store', ...headers });
      response.end(body);
    });
  });
  return new Promise((resolve) => {
    server.listen(port, '127.0.0.1', () => resolve({ url: `http://127.0.0.1:${server.address().port}/`, server }));
  });
}

module.exports = { serve };

if (require.main === module) {
  serve(Number(process.argv[2] ?? 8080)).then(({ url }) => console.log(`jetstate-web: serving ${ROOT} at ${url} (the example: ${url}example/)`));
}
