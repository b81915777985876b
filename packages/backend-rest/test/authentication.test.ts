import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { expectCode, requireReferencePeer, startReferenceServer } from "@borgstore/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RestBackend } from "../src/index.js";
import { startServer } from "./helpers/server.js";

let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "borgstore-rest-auth-"));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

/** Opening with a wrong password fails with AUTHENTICATION_FAILED, says what to check, never shows the password. */
async function expectRefused(base: string): Promise<void> {
  const withPassword = (password: string) => base.replace("//", `//alice:${encodeURIComponent(password)}@`);
  const wrong = new RestBackend({ url: withPassword("not-the-password"), concurrency: 1, retryDelay: 50 });
  const err = await expectCode(wrong.open(), "AUTHENTICATION_FAILED", "check the user name and password");
  expect(err.message).not.toContain("not-the-password");
  expect(err.message).toContain("127.0.0.1");
  const right = new RestBackend({ url: withPassword("s3cret pw"), concurrency: 1 });
  await right.open();
  await right.store("config/x", new TextEncoder().encode("ok"));
  await right.close();
}

describe("a wrong password is AUTHENTICATION_FAILED", () => {
  it("against our server", async () => {
    const server = await startServer([
      "--backend",
      `FILE:${join(dir, "ours")}`,
      "--create",
      "--username",
      "alice",
      "--password",
      "s3cret pw",
    ]);
    try {
      await expectRefused(`${server.url}/`);
    } finally {
      await server.stop();
    }
  });

  const peer = requireReferencePeer("REST client against the Python reference server with a wrong password");
  it.skipIf(!peer)("against the unmodified Python reference server", async () => {
    if (!peer) return;
    const backendUrl = pathToFileURL(join(dir, "reference")).href;
    const server = await startReferenceServer(peer, { backend: backendUrl, username: "alice", password: "s3cret pw" });
    try {
      const creating = new RestBackend({ url: server.url, concurrency: 1 });
      await creating.create();
      await expectRefused(`http://127.0.0.1:${server.port}/`);
    } finally {
      await server.stop();
    }
  });
});
