// Runs the browser tests one after another (they share one stack and
// change its routing and its app process), prints one line per test and
// the closing "browser: N passed, N failed" that tests/run-all adds up.
//   node run.mjs [-k NAME[,NAME...]]
import { readdirSync } from "node:fs";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { registered, launch, closeBrowser, Session, ARTIFACTS, routing, stack } from "./harness.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
// -k NAME[,NAME...]: the tests whose names contain one of these.
const k = args[0] === "-k" ? args[1].split(",") : null;

for (const f of readdirSync(here).filter((n) => /^test_.*\.mjs$/.test(n)).sort()) {
  await import(pathToFileURL(path.join(here, f)).href);
}
const tests = registered().filter((t) => !k || k.some((x) => t.name.includes(x)));
await launch();
let passed = 0, failed = 0;
const shots = [];
for (const t of tests) {
  const s = new Session(t.name);
  const t0 = Date.now();
  let err = null;
  try {
    await t.fn(s);
  } catch (e) {
    err = e;
  }
  shots.push(...(await s.close(!!err)));
  // Whatever a test did to the stack, the next one starts from `new` with the app up.
  // (Without $STACK, e.g. driving a stack from another root, only the tests
  // that leave the stack alone can run.)
  try {
    if (process.env.STACK) stack("app-start");
    if (err && process.env.STACK) routing("new");
  } catch (e) {
    if (!err) err = e;
  }
  const ms = Date.now() - t0;
  if (err) {
    failed++;
    console.log(`FAIL ${t.name} (${ms} ms)\n  ${String(err && err.stack ? err.stack : err).split("\n").slice(0, 8).join("\n  ")}`);
  } else {
    passed++;
    console.log(`ok   ${t.name} (${ms} ms)`);
  }
}
await closeBrowser();
console.log(`screenshots: ${ARTIFACTS} (${shots.length} files)`);
console.log(`browser: ${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
