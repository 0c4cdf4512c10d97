// An ordinary program: serve one TCP connection on 127.0.0.1 (the port is
// printed), greet the client with what it sent, then exit.
const net = require('node:net');

const server = net.createServer((socket) => {
  socket.once('data', (data) => {
    socket.end(`hello ${data.toString().trim()}\n`);
    server.close();
  });
});
server.on('error', (err) => {
  console.error(`listen failed: ${err.code || err.message}`);
  process.exit(1);
});
server.listen(0, '127.0.0.1', () => console.log(`port ${server.address().port}`));
