// An ordinary program: print the body of an HTTP page (argv[2]).
const http = require('node:http');

http.get(process.argv[2], (res) => {
  let body = '';
  res.setEncoding('utf8');
  res.on('data', (chunk) => { body += chunk; });
  res.on('end', () => console.log(`${res.statusCode} ${body}`));
}).on('error', (err) => {
  console.error(`http.get failed: ${err.code || err.message}`);
  process.exit(1);
});
