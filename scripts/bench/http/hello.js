// hello.js: the node reference of the HTTP benchmarks: node's http module
// answering every request with the hello-world of green.wsgi (200,
// Content-Type text/plain, Content-Length 13, "Hello, World!"; node adds
// Date, and Connection: keep-alive and Keep-Alive: timeout=5 to kept
// connections, as it does by default). Listens on 127.0.0.1:PORT
// (argument; 0 = any free port), prints the port first.
'use strict';
const http = require('http');

const body = Buffer.from('Hello, World!');
const server = http.createServer((req, res) => {
  res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': 13 });
  res.end(body);
});
server.listen({ host: '127.0.0.1', port: Number(process.argv[2] || 0), backlog: 1024 }, () => {
  process.stdout.write(server.address().port + '\n');
});
