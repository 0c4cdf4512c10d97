// `node --import sockbroker/register app.mjs`: the same as --require.
import { createRequire } from "node:module";

createRequire(import.meta.url)("./dist/register.js");
