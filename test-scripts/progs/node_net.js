// node `net` echo server / client; run UNDER the shim.
// usage: node node_net.js server HOST PORT
//        node node_net.js client HOST PORT INFILE OUTFILE
// The server prints `address=<JSON of server.address()>` then `ready=1`, and `peer=HOST:PORT`
// per connection. The client prints `peername=`, `sockname=`, sends INFILE, half-closes,
// stores the reply in OUTFILE and prints `done=1`.
'use strict';
const net = require('net');
const fs = require('fs');
const [mode, host, portStr, infile, outfile] = process.argv.slice(2);
const port = Number(portStr);
const out = (k, v) => process.stdout.write(`${k}=${v}\n`);

if (mode === 'server') {
  const server = net.createServer({ allowHalfOpen: true }, (sock) => {
    out('peer', `${sock.remoteAddress}:${sock.remotePort}`);
    sock.on('error', (e) => out('sockerror', e.code));
    sock.pipe(sock);
  });
  server.on('error', (e) => { out('error', e.code); process.exit(1); });
  server.listen(port, host, () => {
    out('address', JSON.stringify(server.address()));
    out('ready', 1);
  });
} else {
  const data = fs.readFileSync(infile);
  const chunks = [];
  const sock = net.connect({ host, port, allowHalfOpen: true }, () => {
    out('peername', `${sock.remoteAddress}:${sock.remotePort}`);
    out('sockname', `${sock.localAddress}:${sock.localPort}`);
    sock.end(data);
  });
  sock.setTimeout(20000, () => { out('error', 'timeout'); process.exit(1); });
  sock.on('data', (d) => chunks.push(d));
  sock.on('end', () => {
    fs.writeFileSync(outfile, Buffer.concat(chunks));
    out('done', 1);
    sock.destroy();
  });
  sock.on('error', (e) => { out('error', e.code); process.exit(1); });
}
