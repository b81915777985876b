import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { KEPT_ITEM_MIN_BYTES, KeptArea } from "../src/hosting/delete-grace-area.js";

// KeptArea on its own, in a temp folder: what the kept values of a repository count against its quota.

const folders: string[] = [];
afterEach(() => {
  for (const folder of folders.splice(0)) rmSync(folder, { recursive: true, force: true });
});

function area(): KeptArea {
  const dir = mkdtempSync(join(tmpdir(), "kept-area-"));
  folders.push(dir);
  return KeptArea.under(dir);
}

async function* bytes(n: number): AsyncIterable<Uint8Array> {
  yield new Uint8Array(n);
}

describe("kept values' quota charge", () => {
  it("counts each kept value at its size, at least KEPT_ITEM_MIN_BYTES, per repository", async () => {
    const kept = area();
    expect(await kept.bytes("alice", "laptop")).toBe(0);
    await kept.keep("alice", "laptop", "data/small", "delete", async () => bytes(10));
    await kept.keep("alice", "laptop", "data/large", "overwrite", async () => bytes(KEPT_ITEM_MIN_BYTES + 904));
    // Nothing to keep: no value, no charge.
    expect(await kept.keep("alice", "laptop", "data/gone", "delete", async () => undefined)).toBeUndefined();
    await kept.keep("alice", "phone", "data/other", "move", async () => bytes(1));
    expect(await kept.bytes("alice", "laptop")).toBe(2 * KEPT_ITEM_MIN_BYTES + 904);
    expect(await kept.bytes("alice", "phone")).toBe(KEPT_ITEM_MIN_BYTES);
  });
});
