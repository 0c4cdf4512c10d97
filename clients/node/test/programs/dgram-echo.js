// An ordinary program: send a datagram to 127.0.0.1:argv[2] and print the
// answer.
const dgram = require('node:dgram');

const socket = dgram.createSocket('udp4');
socket.on('message', (msg) => {
  console.log(`reply ${msg.toString()}`);
  socket.close();
});
socket.on('error', (err) => {
  console.error(`dgram failed: ${err.code || err.message}`);
  process.exit(1);
});
socket.send('ping', Number(process.argv[2]), '127.0.0.1', (err) => {
  if (err) {
    console.error(`send failed: ${err.code || err.message}`);
    process.exit(1);
  }
});
// Without an answer the program would wait for ever: give up after 5 s.
setTimeout(() => {
  console.error('dgram failed: no reply within 5 s');
  process.exit(1);
}, 5000).unref();
