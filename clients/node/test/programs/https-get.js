// An ordinary program: print the body of an HTTPS page (argv[2]), trusting
// the CA in $NODE_EXTRA_CA_CERTS.
const https = require('node:https');

https.get(process.argv[2], (res) => {
  let body = '';
  res.setEncoding('utf8');
  res.on('data', (chunk) => { body += chunk; });
  res.on('end', () => console.log(`${res.statusCode} ${body}`));
}).on('error', (err) => {
  console.error(`https.get failed: ${err.code || err.message}`);
  process.exit(1);
});
