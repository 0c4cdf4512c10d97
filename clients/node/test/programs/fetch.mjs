// An ordinary ES module: print a page (argv[2]) fetched with the global
// fetch, and the address it connected to with node:net's named export.
import { isIP } from 'node:net';

try {
  const res = await fetch(process.argv[2]);
  console.log(`${res.status} ${await res.text()}`);
} catch (err) {
  console.error(`fetch failed: ${(err.cause && err.cause.code) || err.message} (${isIP('127.0.0.1')})`);
  process.exit(1);
}
