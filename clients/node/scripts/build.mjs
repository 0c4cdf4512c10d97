#!/usr/bin/env node
// Build the package: generate the protobuf code from proto/sockbroker.proto
// with protoc and protoc-gen-es (into src/gen/, never committed), then
// compile the TypeScript.
//
//   node scripts/build.mjs               build in place (dist/)
//   node scripts/build.mjs --no-emit     type-check only
//   node scripts/build.mjs --out DIR     build a copy of the package into
//                                        DIR/node_modules/sockbroker (DIR is
//                                        then a NODE_PATH root), leaving the
//                                        source tree untouched
//   ... --stamp FILE                     write FILE when done (for meson)
//
// $PROTOC names protoc (default: protoc on PATH); $SOCKBROKER_PROTO the
// .proto file (default: the repository's proto/sockbroker.proto).
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { fileURLToPath } from "node:url";

const packageDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const args = process.argv.slice(2);
const noEmit = args.includes("--no-emit");
const outIndex = args.indexOf("--out");
const outRoot = outIndex >= 0 ? path.resolve(args[outIndex + 1] ?? "") : null;
const stampIndex = args.indexOf("--stamp");
const stamp = stampIndex >= 0 ? path.resolve(args[stampIndex + 1] ?? "") : null;
const proto = process.env.SOCKBROKER_PROTO ?? path.resolve(packageDir, "../../proto/sockbroker.proto");
const protoc = process.env.PROTOC ?? "protoc";
const modules = path.join(packageDir, "node_modules");

function fail(message) {
  console.error(`build: ${message}`);
  process.exit(1);
}

if (!fs.existsSync(path.join(modules, "@bufbuild", "protoc-gen-es"))) {
  fail(`${modules} lacks the build tools: run 'npm ci' in ${packageDir} first`);
}
if (!fs.existsSync(proto)) fail(`no ${proto}: set $SOCKBROKER_PROTO to sockbroker.proto`);

let target = packageDir;
if (outRoot) {
  target = path.join(outRoot, "node_modules", "sockbroker");
  fs.rmSync(target, { recursive: true, force: true });
  fs.mkdirSync(target, { recursive: true });
  for (const name of ["src", "package.json", "tsconfig.json", "register.mjs"]) {
    fs.cpSync(path.join(packageDir, name), path.join(target, name), { recursive: true });
  }
  fs.rmSync(path.join(target, "src", "gen"), { recursive: true, force: true });
  fs.symlinkSync(modules, path.join(target, "node_modules"));
}

const genDir = path.join(target, "src", "gen");
fs.mkdirSync(genDir, { recursive: true });
const plugin = path.join(modules, ".bin", "protoc-gen-es");
try {
  execFileSync(protoc, [`--plugin=protoc-gen-es=${plugin}`, `--es_out=${genDir}`,
    "--es_opt=target=ts,import_extension=js", `--proto_path=${path.dirname(proto)}`, proto],
  { stdio: "inherit" });
} catch (err) {
  fail(`protoc failed (${err.message}); is protoc installed (Debian: protobuf-compiler)?`);
}
const tsc = path.join(modules, "typescript", "bin", "tsc");
try {
  execFileSync(process.execPath, [tsc, "-p", path.join(target, "tsconfig.json"),
    ...(noEmit ? ["--noEmit"] : [])], { stdio: "inherit" });
} catch {
  fail("the TypeScript compiler reported errors (above)");
}
if (stamp) fs.writeFileSync(stamp, `${target}\n`);
