import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CREDENTIALS, request, type RunningServer, startInProcess, tempDir } from "./helpers.js";

const LIMIT = 1_000_000;
const SIZE = 100_000;

function bytesOnDisk(dir: string, top = true): number {
  let total = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (top && entry.name.endsWith(".hid")) continue;
    const path = join(dir, entry.name);
    total += entry.isDirectory() ? bytesOnDisk(path, false) : statSync(path).size;
  }
  return total;
}

// A client racing a store of a name with a move of it away must not store beyond `--quota`.
describe("server --quota: stores racing moves of the same name", () => {
  const dir = tempDir();
  const store = join(dir.path, "store");
  let server: RunningServer;
  const req = (method: string, target: string, body?: Buffer) => request(server.port, method, target, { body });

  beforeAll(async () => {
    server = await startInProcess(["--backend", `FILE:${store}`, "--quota", String(LIMIT), "--create"], CREDENTIALS);
  });
  afterAll(async () => {
    expect(await server.stop()).toBe(0);
    dir.remove();
  });

  it("never holds more bytes than the quota, and reports usage equal to the bytes on disk", async () => {
    const value = Buffer.alloc(SIZE, 7);
    for (let round = 0; round < 80; round++) {
      const [stored] = await Promise.all([
        req("POST", "/ns/b", value),
        req("POST", `/?cmd=move&current=ns%2Fb&new=ns%2Fc${round}`),
      ]);
      if (stored.status === 507) {
        const victim = readdirSync(join(store, "ns")).find((name) => name.startsWith("c"));
        if (victim) expect((await req("DELETE", `/ns/${victim}`)).status).toBe(200);
      } else expect(stored.status).toBe(200);
      expect(bytesOnDisk(store), `round ${round}`).toBeLessThanOrEqual(LIMIT);
    }
    const quota = JSON.parse((await req("POST", "/?cmd=quota")).body.toString());
    expect(quota).toEqual({ limit: LIMIT, usage: bytesOnDisk(store) });
  });
});
