// Usage: node packages/backend-posixfs/bench/paired-small-stores.mjs BASE_CORE_JS BASE_POSIXFS_JS NEW_CORE_JS NEW_POSIXFS_JS [WINDOWS]
// (each the dist/index.js of a build; e.g. a checkout of 952247e against this one). Used for the README's
// "Why one lock per session" figures; not a *.bench.mjs suite, so `pnpm bench` does not run it.
// Base and new build in one process, Store over posixfs, 1 KiB stores one at a time: windows of
// 2,000 stores alternate between the builds (ABBA…); per window CPU µs and wall µs per store; medians.
import { mkdtempSync, rmSync } from "node:fs";
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
const [baseCore, basePosix, newCore, newPosix, windows = "40"] = process.argv.slice(2);
const dir = mkdtempSync("/dev/shm/pp-");
async function make(core, posix, name) {
  const { Store } = await import(pathToFileURL(resolve(core)).href);
  const { PosixFsBackend } = await import(pathToFileURL(resolve(posix)).href);
  const store = new Store({ backend: new PosixFsBackend(`${dir}/${name}`), config: { "data/": { levels: [0] } }, latency: 0, bandwidth: 0 });
  await store.create(); await store.open();
  return store;
}
const stores = { base: await make(baseCore, basePosix, "b"), new: await make(newCore, newPosix, "n") };
const v = new Uint8Array(1024);
const keys = Array.from({ length: 1000 }, (_, i) => `data/${String(i).padStart(64, "0")}`);
const res = { base: { cpu: [], wall: [] }, new: { cpu: [], wall: [] } };
async function window(name, n, record) {
  const s = stores[name];
  const c0 = process.cpuUsage(); const t0 = performance.now();
  for (let i = 0; i < n; i++) await s.store(keys[i % 1000], v);
  const c = process.cpuUsage(c0);
  if (record) { res[name].cpu.push((c.user + c.system) / n); res[name].wall.push((performance.now() - t0) * 1000 / n); }
}
for (const name of ["base", "new", "base", "new"]) await window(name, 5000, false);
for (let w = 0; w < Number(windows); w++) for (const name of w % 2 ? ["new", "base"] : ["base", "new"]) await window(name, 2000, true);
const med = (a) => { const s = [...a].sort((x, y) => x - y); return s[s.length >> 1]; };
const q = (a, p) => { const s = [...a].sort((x, y) => x - y); return s[Math.floor(p * (s.length - 1))]; };
const out = {};
for (const name of ["base", "new"]) out[name] = { cpuMedian: med(res[name].cpu).toFixed(2), cpuQ25: q(res[name].cpu, 0.25).toFixed(2), wallMedian: med(res[name].wall).toFixed(2), wallMin: Math.min(...res[name].wall).toFixed(2) };
out.newOverBaseCpu = (med(res.new.cpu) / med(res.base.cpu)).toFixed(3);
console.log(JSON.stringify(out));
for (const s of Object.values(stores)) await s.close();
rmSync(dir, { recursive: true });
