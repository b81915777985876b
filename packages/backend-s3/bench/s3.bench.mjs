// S3Backend against the S3 service of BORGSTORE_TEST_S3_URL (radosgw from scripts/test-servers):
// store/load at 1 KiB and 4 MiB with 1 and 16 operations in flight, 10,000 keys stored (32 in
// flight) and listed. Each rate is put beside the unmodified Python reference's (boto3) on the same
// radosgw in the same run, sequential as borg uses it (reference-store-driver.py; its keys go to a
// location of their own). Targets: 1 KiB stores with 16 in flight ≥ 5× our sequential rate; 10,000
// keys stored in < 7 s and listed in < 0.8 s; every same-run ratio ≥ 1.
import { createHash, randomBytes } from "node:crypto";
import { performance } from "node:perf_hooks";
import { referenceEnv, requireReferencePeer } from "@borgstore/testkit";
import { KiB, MiB, measure, startReferenceStore } from "../../../scripts/bench/lib.mjs";
import { S3Backend } from "../dist/index.js";

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";
const KEYS = Number(process.env.BORGSTORE_BENCH_S3_KEYS ?? 10_000);
/** Sequential operations of the reference per size and op (its 1 KiB load runs at some 20/s). */
const REFERENCE_COUNT = { [KiB]: { store: 200, load: 60 }, [4 * MiB]: { store: 12, load: 12 } };
/** Keys the reference stores one by one and then lists (its rate beside ours for 10,000). */
const REFERENCE_KEYS = 1000;
const keyOf = (i) => createHash("sha256").update(String(i)).digest("hex");
const LABEL = "Python reference (boto3), sequential, same run";

export default async function bench(ctx) {
  const url = ctx.env.BORGSTORE_TEST_S3_URL ?? ctx.missing("BORGSTORE_TEST_S3_URL (scripts/test-servers/radosgw.sh start DIR)");
  const peer = requireReferencePeer("s3 bench", ["boto3"]) ?? ctx.missing("the Python reference with boto3 (scripts/install-test-servers.sh)");
  const reference = await measureReference(peer, url);
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
          const ref = reference[`${size}/${op}`];
          const small = size === KiB;
          ctx.report({
            case: `${label} ${op}, ${inFlight} in flight`,
            value: small ? r.opsPerSec : r.mbPerSec,
            unit: small ? "ops/s" : "MB/s",
            reference: small ? ref.opsPerSec : ref.mbPerSec,
            referenceLabel: LABEL,
            target: "≥ ×1",
            met: r.opsPerSec >= ref.opsPerSec,
          });
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
    ctx.report({ case: `store ${KEYS} keys of 1 KiB, 32 in flight`, value: stored.seconds, unit: "s", target: "< 7 s", met: stored.seconds < 7 });
    ctx.report({
      case: `store ${KEYS} keys of 1 KiB, 32 in flight (reference: ${REFERENCE_KEYS} one by one)`,
      value: stored.opsPerSec,
      unit: "keys/s",
      reference: reference.keysStored,
      referenceLabel: LABEL,
      target: "≥ ×1",
      met: stored.opsPerSec >= reference.keysStored,
    });
    const start = performance.now();
    let listed = 0;
    for await (const _ of backend.list("many")) listed++;
    const seconds = (performance.now() - start) / 1000;
    if (listed !== KEYS) throw new Error(`listed ${listed} of ${KEYS} keys`);
    ctx.report({ case: `list ${KEYS} keys`, value: seconds, unit: "s", target: "< 0.8 s", met: seconds < 0.8 });
    ctx.report({
      case: `list ${KEYS} keys (reference: its ${REFERENCE_KEYS})`,
      value: KEYS / seconds,
      unit: "keys/s",
      reference: reference.keysListed,
      referenceLabel: LABEL,
      target: "≥ ×1",
      met: KEYS / seconds >= reference.keysListed,
    });
  } finally {
    await backend.close();
    await backend.destroy();
  }
}

/** The reference's sequential rates on the same radosgw, in a location of its own. */
async function measureReference(peer, url) {
  const location = `${url.replace(/\/+$/, "")}/refbench-${Date.now().toString(36)}`;
  const ref = startReferenceStore(peer, referenceEnv(peer), location, { "": { levels: [0] }, "data/": { levels: [0] }, "many/": { levels: [0] } });
  try {
    const rates = {};
    for (const size of [KiB, 4 * MiB]) {
      const count = REFERENCE_COUNT[size];
      const tag = `s${size}-`;
      rates[`${size}/store`] = await ref.run({ op: "store", ns: "data", tag, size, count: count.store });
      rates[`${size}/load`] = await ref.run({ op: "load", ns: "data", tag, size, count: count.load });
      await ref.run({ op: "delete", ns: "data", tag, size, count: count.store });
    }
    const stored = await ref.run({ op: "store", ns: "many", tag: "k", size: KiB, count: REFERENCE_KEYS });
    const listed = await ref.list("many");
    if (listed.items !== REFERENCE_KEYS) throw new Error(`the reference listed ${listed.items} of ${REFERENCE_KEYS} keys`);
    return { ...rates, keysStored: stored.opsPerSec, keysListed: listed.items / listed.seconds };
  } finally {
    await ref.close();
  }
}
