import { fileURLToPath } from "node:url";
import { readFileSync } from "node:fs";
import { requireReferencePeer, runReferencePython } from "@borgstore/testkit";
import { afterAll, describe, expect, it } from "vitest";
import { startServer, tempDir } from "./helpers.js";

const SCRIPT = readFileSync(fileURLToPath(new URL("./python/reference_client_refusals.py", import.meta.url)), "utf8");
const peer = requireReferencePeer("the reference REST client against our server", ["requests"]);

describe.skipIf(!peer)("the unmodified Python REST client against our CLI", () => {
  const dir = tempDir();
  afterAll(() => dir.remove());

  it("keeps working on its session through 413, 403 and 401 answers (which close the connection)", async () => {
    const server = await startServer(
      ["--backend", `FILE:${dir.path}/store`, "--create", "--max-object-size", "1000", "--permissions", '{"": "lr", "data": "lrwWD"}'],
      { BORGSTORE_SERVER_USERNAME: "testuser", BORGSTORE_SERVER_PASSWORD: "testpass" },
    );
    try {
      const run = await runReferencePython(peer as NonNullable<typeof peer>, SCRIPT, { args: [`http://127.0.0.1:${server.port}/`], timeoutMs: 60_000 });
      const out = run.stdout.toString();
      expect(out, run.stderr).not.toContain("FAIL");
      expect(out.match(/^ok /gm)?.length, out).toBe(8);
      expect(run.status, `${out}\n${run.stderr}`).toBe(0);
    } finally {
      expect(await server.stop()).toBe(0);
    }
  }, 60_000);
});
