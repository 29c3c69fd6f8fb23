// node `http` server / client; run UNDER the shim.
// usage: node node_http.js server HOST PORT BODYFILE
//          GET /body -> BODYFILE; GET /req -> "remote=ADDR:PORT local=ADDR:PORT host=HOSTHEADER"
//          prints `address=<JSON of server.address()>` then `ready=1`
//        node node_http.js client HOST PORT OUTFILE
//          GET /body into OUTFILE, then GET /req printed as `req=...`, then `done=1`
'use strict';
const http = require('http');
const fs = require('fs');
const [mode, host, portStr, file] = process.argv.slice(2);
const port = Number(portStr);
const out = (k, v) => process.stdout.write(`${k}=${v}\n`);

if (mode === 'server') {
  const body = fs.readFileSync(file);
  const server = http.createServer((req, res) => {
    if (req.url === '/body') {
      res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': body.length });
      res.end(body);
    } else if (req.url === '/req') {
      const s = req.socket;
      const text = `remote=${s.remoteAddress}:${s.remotePort} local=${s.localAddress}:${s.localPort} host=${req.headers.host}`;
      res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': Buffer.byteLength(text) });
      res.end(text);
    } else {
      res.writeHead(404); res.end();
    }
  });
  server.on('error', (e) => { out('error', e.code); process.exit(1); });
  server.listen(port, host, () => {
    out('address', JSON.stringify(server.address()));
    out('ready', 1);
  });
} else {
  const agent = new http.Agent({ keepAlive: false });
  const get = (path) => new Promise((resolve, reject) => {
    const req = http.get({ host, port, path, agent, timeout: 20000 }, (res) => {
      const chunks = [];
      res.on('data', (d) => chunks.push(d));
      res.on('end', () => resolve([res.statusCode, Buffer.concat(chunks)]));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
  (async () => {
    const [st, body] = await get('/body');
    out('status', st);
    fs.writeFileSync(file, body);
    const [st2, req] = await get('/req');
    out('req', JSON.stringify(req.toString()));
    out('done', 1);
  })().catch((e) => { out('error', e.code || e.message); process.exit(1); });
}
