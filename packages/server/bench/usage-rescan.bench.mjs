// What a replica taking over a user costs when the usage records live in the bucket (issue 17,
// docs/scale-out.md): after a crash the record is not clean and the new owner measures the
// repository by listing it whole (one LIST page per 1,000 objects of a directory, one more LIST per
// directory); after a clean shutdown or hand-over it reads the record (one LIST of the user's
// records, one GET each). Against the radosgw of scripts/test-servers/radosgw.sh, 100,000 objects
// (BENCH_RESCAN_OBJECTS) of 16 bytes in one repository's data/ directory, stored 64 at a time.
import { randomBytes } from "node:crypto";
import { S3Backend } from "@borgstore/backend-s3";
import { BucketUsageRecords } from "../dist/hosting/bucket-usage-records.js";
import { measure } from "../dist/hosting/usage-layer.js";

const OBJECTS = Number(process.env.BENCH_RESCAN_OBJECTS ?? 100_000);
const IN_FLIGHT = 64;

export default async function usageRescan(ctx) {
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";
  const url = ctx.env.BORGSTORE_TEST_S3_URL;
  if (!url) ctx.missing("BORGSTORE_TEST_S3_URL (radosgw: scripts/test-servers/radosgw.sh)");
  const run = `rescan-${Date.now().toString(36)}-${randomBytes(3).toString("hex")}`;
  const backend = S3Backend.fromUrl(`${url}/${run}/alice/laptop`);
  await backend.create();
  await backend.open();
  try {
    await backend.mkdir("data");
    const value = randomBytes(16);
    let next = 0;
    const filled = performance.now();
    await Promise.all(
      Array.from({ length: IN_FLIGHT }, async () => {
        for (let i = next++; i < OBJECTS; i = next++) await backend.store(`data/${i.toString(16).padStart(64, "0")}`, value);
      }),
    );
    const fillSeconds = (performance.now() - filled) / 1000;
    ctx.report({ case: `s3 fill: ${OBJECTS} objects of 16 B, ${IN_FLIGHT} in flight`, value: OBJECTS / fillSeconds, unit: "ops/s" });

    const times = [];
    for (let round = 0; round < 3; round++) {
      const started = performance.now();
      const figures = await measure(backend);
      times.push(performance.now() - started);
      if (figures.objects !== OBJECTS) throw new Error(`measured ${figures.objects} objects, stored ${OBJECTS}`);
    }
    times.sort((a, b) => a - b);
    ctx.report({ case: `takeover after a crash: rescan by listing ${OBJECTS} objects (median of 3)`, value: times[1], unit: "ms" });

    const { ConditionalObjects } = await import("@borgstore/backend-s3");
    const records = new BucketUsageRecords(ConditionalObjects.fromUrl(`${url}/${run}-state`));
    await records.write("alice", "laptop", { bytes: OBJECTS * 16, objects: OBJECTS, clean: true });
    const fresh = new BucketUsageRecords(ConditionalObjects.fromUrl(`${url}/${run}-state`));
    const started = performance.now();
    await fresh.readUser("alice");
    ctx.report({ case: "takeover after a clean hand-over: read the user's records (1 repository)", value: performance.now() - started, unit: "ms" });
  } finally {
    await backend.close();
    await backend.destroy();
  }
}
