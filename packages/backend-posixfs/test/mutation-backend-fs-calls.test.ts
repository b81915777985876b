import { closeSync, constants, openSync, readFileSync, statSync, unlinkSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { writeAll, writevAll } from "../src/fs-calls.js";
import { smallTmpfs, tmpfsAvailable } from "./small-tmpfs.js";

// writeAll and writevAll after a short write: a full filesystem (a 256 KiB tmpfs mounted in a
// temp directory) takes part of a write, then refuses the rest with ENOSPC. Their loops must go
// on from where the kernel stopped, and so report ENOSPC rather than success or another error.

const mounted = tmpfsAvailable;
const mountPoint = mounted ? smallTmpfs(256) : "";

const filled = (size: number, fill: number) => new Uint8Array(size).fill(fill);

async function failure(promise: Promise<unknown>): Promise<NodeJS.ErrnoException> {
  return promise.then(
    () => {
      throw new Error("expected ENOSPC");
    },
    (err) => err,
  );
}

describe.skipIf(!mounted)("posixfs writes on a full filesystem (short writes)", () => {
  it("writevAll writes the first chunk whole, then fails with ENOSPC on the rest", async () => {
    const path = join(mountPoint, "v");
    const fd = openSync(path, constants.O_WRONLY | constants.O_CREAT, 0o600);
    try {
      const error = await failure(writevAll(fd, [filled(200 * 1024, 1), filled(200 * 1024, 2)]));
      expect(error.code).toBe("ENOSPC");
      const written = readFileSync(path);
      expect(written.byteLength).toBeGreaterThan(200 * 1024);
      expect(written.byteLength).toBeLessThan(400 * 1024);
      expect(written.subarray(0, 200 * 1024).every((b) => b === 1)).toBe(true);
      expect(written.subarray(200 * 1024).every((b) => b === 2)).toBe(true);
    } finally {
      closeSync(fd);
      unlinkSync(path);
    }
  });

  it("writeAll fails with ENOSPC after the part that fit", async () => {
    const path = join(mountPoint, "w");
    const fd = openSync(path, constants.O_WRONLY | constants.O_CREAT, 0o600);
    try {
      const error = await failure(writeAll(fd, filled(400 * 1024, 3)));
      expect(error.code).toBe("ENOSPC");
      expect(statSync(path).size).toBeGreaterThan(0);
      expect(statSync(path).size).toBeLessThan(400 * 1024);
    } finally {
      closeSync(fd);
      unlinkSync(path);
    }
  });
});
