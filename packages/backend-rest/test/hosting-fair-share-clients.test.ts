import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, writeFileSync } from "node:fs";
import { rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { requireReferencePeer, runReferencePython } from "@borgstore/testkit";
import { afterAll, describe, expect, it } from "vitest";
import { RestBackend } from "../src/index.js";
import { freePort, startHosting } from "./helpers/server.js";

// Issue 16's fair share: neither client retries a 503, so a user at their limit must see their
// requests wait, not refused. One user runs our client (16 in flight) and the unmodified Python
// client (one at a time) at once, under a limit of 2 requests in flight: both finish without an error.
const root = mkdtempSync(join(tmpdir(), "borgstore-rest-fair-"));
afterAll(() => rm(root, { recursive: true, force: true }));
const peer = requireReferencePeer("the reference's Python client against a user at their fair-share limit", ["requests"]);

describe("clients of a user at their fair-share limit", () => {
  it("our client (16 in flight) and the unmodified Python client, as one user limited to 2 requests in flight, both finish their work: requests wait their turn, none is refused", async () => {
    execFileSync("htpasswd", ["-cbB", "-C", "4", join(root, "htpasswd"), "alice", "apw"], { stdio: "ignore" });
    const port = await freePort();
    writeFileSync(
      join(root, "hosting.toml"),
      `htpasswd = "htpasswd"\n[listen]\nport = ${port}\n[repositories]\nbackend = "file://${root}/repos/{user}/{repo}"\nauto_create = true\n[fair_share]\nmax_in_flight = 2\n`,
    );
    const server = await startHosting(join(root, "hosting.toml"), port);
    const ours = new RestBackend({ url: `${server.url.replace("//", "//alice:apw@")}/alice/ours/`, env: {} });
    try {
      await ours.create();
      await ours.open();
      const values = Array.from({ length: 60 }, () => randomBytes(100_000));
      const python = peer
        ? runReferencePython(
            peer,
            `
import sys
from borgstore.store import Store
store = Store(sys.argv[1], config={"data/": {"levels": [0]}})
store.create()
with store:
    for i in range(20):
        store.store(f"data/v{i}", bytes([i]) * 5000)
    for i in range(20):
        assert store.load(f"data/v{i}") == bytes([i]) * 5000
print("python done")
`,
            { args: [`http://alice:apw@127.0.0.1:${port}/alice/python/`], timeoutMs: 60_000 },
          )
        : undefined;
      await Promise.all(values.map((value, i) => ours.store(`v${i}`, value)));
      const loaded = await Promise.all(values.map((_, i) => ours.load(`v${i}`)));
      for (const [i, value] of loaded.entries()) expect(Buffer.from(value).equals(values[i] as Buffer)).toBe(true);
      if (python) {
        const run = await python;
        expect(run.status, run.stderr.toString()).toBe(0);
        expect(run.stdout.toString()).toContain("python done");
      }
    } finally {
      await ours.close().catch(() => {});
      await server.stop();
    }
  }, 90_000);
});
