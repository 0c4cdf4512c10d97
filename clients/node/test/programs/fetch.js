// An ordinary program: print a page (argv[2]) fetched with the global fetch.
fetch(process.argv[2]).then(async (res) => {
  console.log(`${res.status} ${await res.text()}`);
}).catch((err) => {
  console.error(`fetch failed: ${(err.cause && err.cause.code) || err.message}`);
  process.exit(1);
});
