// Scope snapshots of the TextMate grammar on every example in examples/
// and every case in test/cases/, checked with vscode-tmgrammar-snap.
//
//   node test/snap.js            check against test/snapshots/
//   node test/snap.js --update   rewrite test/snapshots/
//
// The tool keeps a snapshot next to each file it reads, so the files and
// their snapshots are copied to a temporary folder and checked there: the
// examples stay where they are and their snapshots live here.
"use strict";

const fs = require("fs");
const os = require("os");
const path = require("path");
const { spawnSync } = require("child_process");

const here = __dirname;
const root = path.resolve(here, "..");
const update = process.argv.includes("--update");
const snapshots = path.join(here, "snapshots");

const sources = [];
for (const dir of [path.resolve(root, "../../examples"), path.join(here, "cases")]) {
  for (const name of fs.readdirSync(dir).sort()) {
    if (name.endsWith(".flow")) sources.push(path.join(dir, name));
  }
}

const work = fs.mkdtempSync(path.join(os.tmpdir(), "flow-grammar-"));
const problems = [];
for (const src of sources) {
  const name = path.basename(src);
  fs.copyFileSync(src, path.join(work, name));
  const snap = path.join(snapshots, name + ".snap");
  if (fs.existsSync(snap)) {
    fs.copyFileSync(snap, path.join(work, name + ".snap"));
  } else if (!update) {
    problems.push(`no snapshot for ${name}: run \`npm run snap:update\` and review it`);
  }
}
const names = new Set(sources.map((s) => path.basename(s) + ".snap"));
for (const snap of fs.readdirSync(snapshots)) {
  if (!names.has(snap)) {
    if (update) fs.rmSync(path.join(snapshots, snap));
    else problems.push(`snapshot ${snap} has no example or case any more`);
  }
}

const bin = path.join(root, "node_modules", "vscode-tmgrammar-test", "dist", "snapshot.js");
const args = [bin, "-g", path.join(root, "syntaxes", "flow.tmLanguage.json"), "-s", "source.flow"];
if (update) args.push("--updateSnapshot");
args.push(path.join(work, "*.flow"));
const run = spawnSync(process.execPath, args, { cwd: root, stdio: "inherit" });

if (update && run.status === 0) {
  for (const src of sources) {
    const name = path.basename(src) + ".snap";
    fs.copyFileSync(path.join(work, name), path.join(snapshots, name));
  }
}
fs.rmSync(work, { recursive: true, force: true });
for (const p of problems) console.error(p);
process.exit(run.status === 0 && problems.length === 0 ? 0 : 1);
