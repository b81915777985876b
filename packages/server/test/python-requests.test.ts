import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { requireReferencePeer } from "@borgstore/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ServerProcess, startServer, tempDir } from "./helpers.js";

const SCRIPT = fileURLToPath(new URL("./python/requests_client.py", import.meta.url));
// Debian's python3 with python3-requests (a pyenv shim on PATH may lack it): a loud skip when
// missing, a failure under CI=true.
const peer = requireReferencePeer("the python-requests interop test", ["requests"]);

describe.skipIf(!peer)("a python-requests client (the Python client's HTTP library) against our CLI", () => {
  const dir = tempDir();
  let server: ServerProcess;
  beforeAll(async () => {
    server = await startServer(["--backend", `FILE:${dir.path}/store`], {
      BORGSTORE_SERVER_USERNAME: "testuser",
      BORGSTORE_SERVER_PASSWORD: "testpass",
    });
  });
  afterAll(async () => {
    await server.stop();
    dir.remove();
  });

  it("passes create, store with hash, errors on a kept session, ranges, 401/406/422, defrag, list, hash, destroy", () => {
    const python = peer?.python ?? "python3";
    const run = spawnSync(python, [SCRIPT, `http://127.0.0.1:${server.port}/`, "testuser", "testpass"], { encoding: "utf8" });
    expect(run.stdout).not.toContain("FAIL");
    expect(run.stderr).toBe("");
    expect(run.status).toBe(0);
  });
});
