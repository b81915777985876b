// S3Backend against the S3 service of BORGSTORE_TEST_S3_URL (radosgw from scripts/test-servers):
// store/load at 1 KiB and 4 MiB with 1 and 16 operations in flight, 10,000 keys stored (32 in
// flight) and listed. Reference figures: the Python reference against the same radosgw, sequential
// (issue 5). Targets: 1 KiB stores with 16 in flight ≥ 5× our sequential rate; 10,000 keys stored
// in < 7 s and listed in < 0.8 s.
import { createHash, randomBytes } from "node:crypto";
import { performance } from "node:perf_hooks";
import { KiB, MiB, measure } from "../../../scripts/bench/lib.mjs";
import { S3Backend } from "../dist/index.js";

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";
const KEYS = Number(process.env.BORGSTORE_BENCH_S3_KEYS ?? 10_000);
const REFERENCE = {
  [KiB]: { store: 230, load: 22 },
  [4 * MiB]: { store: 90, load: 200 },
};
const keyOf = (i) => createHash("sha256").update(String(i)).digest("hex");

export default async function bench(ctx) {
  const url = ctx.env.BORGSTORE_TEST_S3_URL ?? ctx.missing("BORGSTORE_TEST_S3_URL (scripts/test-servers/radosgw.sh start DIR)");
  const base = S3Backend.fromUrl(url);
  const backend = S3Backend.fromUrl(url, { path: `${base.basePath}bench-${Date.now().toString(36)}`, maxSockets: 64 });
  await backend.create();
  await backend.open();
  try {
    await backend.mkdir("data");
    const rates = {};
    for (const size of [KiB, 4 * MiB]) {
      const value = randomBytes(size);
      const label = size === KiB ? "1 KiB" : "4 MiB";
      for (const inFlight of [1, 16]) {
        const count = size === KiB ? (inFlight === 1 ? 300 : 2000) : inFlight === 1 ? 16 : 48;
        const prefix = `data/s${size}-f${inFlight}-`;
        const stored = await measure((i) => backend.store(`${prefix}${i}`, value), { count, inFlight, bytesPerOp: size });
        const loaded = await measure((i) => backend.load(`${prefix}${i}`), { count, inFlight, bytesPerOp: size });
        rates[`${size}/${inFlight}`] = stored.opsPerSec;
        for (const [op, r] of [["store", stored], ["load", loaded]]) {
          const reference = REFERENCE[size][op];
          const row = { case: `${label} ${op}, ${inFlight} in flight`, reference, referenceLabel: "reference sequential" };
          if (size === KiB) ctx.report({ ...row, value: r.opsPerSec, unit: "ops/s" });
          else ctx.report({ ...row, value: r.mbPerSec, unit: "MB/s" });
        }
        // Free the memstore OSD's RAM before the next case.
        await measure((i) => backend.delete(`${prefix}${i}`), { count, inFlight: 16 });
      }
    }
    ctx.report({
      case: "1 KiB store: 16 in flight vs our sequential",
      value: rates[`${KiB}/16`] / rates[`${KiB}/1`],
      unit: "×",
      target: "≥ 5×",
      met: rates[`${KiB}/16`] / rates[`${KiB}/1`] >= 5,
    });

    const value = randomBytes(KiB);
    await backend.mkdir("many");
    const stored = await measure((i) => backend.store(`many/${keyOf(i)}`, value), { count: KEYS, inFlight: 32 });
    ctx.report({ case: `store ${KEYS} keys of 1 KiB, 32 in flight`, value: stored.seconds, unit: "s", reference: 35, referenceLabel: "reference sequential", target: "< 7 s", met: stored.seconds < 7 });
    const start = performance.now();
    let listed = 0;
    for await (const _ of backend.list("many")) listed++;
    const seconds = (performance.now() - start) / 1000;
    if (listed !== KEYS) throw new Error(`listed ${listed} of ${KEYS} keys`);
    ctx.report({ case: `list ${KEYS} keys`, value: seconds, unit: "s", reference: 0.8, referenceLabel: "reference", target: "< 0.8 s", met: seconds < 0.8 });
  } finally {
    await backend.close();
    await backend.destroy();
  }
}
