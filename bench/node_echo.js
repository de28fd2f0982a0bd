// node_echo.js — the Node.js reference peer for bench/run.sh.
//
// A plain `net` echo, the way a Node programmer would write one: one event
// loop (libuv, epoll underneath), each chunk written back as it arrives.
// socket.pipe(socket) would add stream machinery; a data handler with
// pause/resume is the usual shape and keeps memory bounded when a client
// does not read (write() returns false -> stop reading until 'drain').
//
//   node bench/node_echo.js [PORT]     prints "listening on 127.0.0.1:PORT"
'use strict';
const net = require('net');

const server = net.createServer({ noDelay: true }, (sock) => {
  sock.setNoDelay(true);  // TCP_NODELAY, as the C++ servers set on accepted sockets
  sock.on('data', (chunk) => {
    if (!sock.write(chunk)) {
      sock.pause();
      sock.once('drain', () => sock.resume());
    }
  });
  sock.on('error', () => sock.destroy());  // a reset peer is not our problem
});
server.maxConnections = 100000;
server.listen({ host: '127.0.0.1', port: Number(process.argv[2] || 0), backlog: 4096 }, () => {
  const a = server.address();
  process.stdout.write(`listening on ${a.address}:${a.port}\n`);
});
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => process.exit(0));
