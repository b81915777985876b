import { createHash, randomBytes } from "node:crypto";
import { mkdtempSync, readdirSync, statSync } from "node:fs";
import { rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AuthenticationFailed, BackendError, PermissionDenied } from "@borgstore/core";
import { RestBackend } from "../src/index.js";
import { RawResponder } from "./helpers/raw-responder.js";
import { type RunningServer, startServer } from "./helpers/server.js";

const root = mkdtempSync(join(tmpdir(), "borgstore-rest-client-"));
let server: RunningServer;

beforeAll(async () => {
  server = await startServer(["--backend", `FILE:${join(root, "store")}`, "--create", "--username", "alice", "--password", "s3cret"]);
});
afterAll(async () => {
  await server?.stop();
  await rm(root, { recursive: true, force: true });
});

async function* chunks(data: Uint8Array, size: number) {
  for (let at = 0; at < data.byteLength; at += size) yield data.subarray(at, at + size);
}

describe("credentials", () => {
  it("come from BORGSTORE_REST_USERNAME / BORGSTORE_REST_PASSWORD when the URL has none", async () => {
    const b = new RestBackend({ url: `${server.url}/`, env: { BORGSTORE_REST_USERNAME: "alice", BORGSTORE_REST_PASSWORD: "s3cret" } });
    await b.open();
    await b.store("env-auth", new Uint8Array([1]));
    expect(Array.from(await b.load("env-auth"))).toEqual([1]);
    await b.close();
    // The same server refuses a client without them: the environment is what let the first one in.
    await expect(new RestBackend({ url: `${server.url}/`, env: {} }).open()).rejects.toBeInstanceOf(AuthenticationFailed);
  });

  it("a wrong password is AuthenticationFailed (401, a BackendError), not retried", async () => {
    const b = new RestBackend({ url: `${server.url.replace("//", "//alice:wrong@")}/`, retryDelay: 10_000, env: {} });
    const started = Date.now();
    const err = await b.open().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AuthenticationFailed);
    expect(err).toBeInstanceOf(BackendError);
    expect(Date.now() - started).toBeLessThan(5000);
  });
});

describe("streams", () => {
  const url = () => `${server.url.replace("//", "//alice:s3cret@")}/`;

  it("storeStream of unknown length larger than the memory limit spools to a temp file, sends it whole and removes the file", async () => {
    const b = new RestBackend({ url: url(), env: {} });
    await b.open();
    const value = randomBytes(9 * 1024 * 1024);
    // A temp directory of this test's own, so the spool file it sees can only be this store's.
    const temp = mkdtempSync(join(root, "tmp-"));
    const spoolFiles = () =>
      readdirSync(temp)
        .filter((dir) => dir.startsWith("borgstore-rest-"))
        .flatMap((dir) => readdirSync(join(temp, dir)).map((file) => statSync(join(temp, dir, file)).size));
    let seenWhileSending: number[] = [];
    async function* source() {
      yield* chunks(value, 100_000);
      // Asked for more after the last chunk: the spool has written everything it was given.
      seenWhileSending = spoolFiles();
    }
    const tmpdirBefore = process.env.TMPDIR;
    process.env.TMPDIR = temp;
    try {
      await b.storeStream("spooled", source());
    } finally {
      if (tmpdirBefore === undefined) delete process.env.TMPDIR;
      else process.env.TMPDIR = tmpdirBefore;
    }
    expect(seenWhileSending).toEqual([value.byteLength]);
    expect(readdirSync(temp)).toEqual([]);
    expect(await b.hash("spooled")).toBe(createHash("sha256").update(value).digest("hex"));
    await b.close();
  });

  it("storeStream with a size streams the body and loadStream streams it back", async () => {
    const b = new RestBackend({ url: url(), env: {} });
    await b.open();
    const value = randomBytes(3 * 1024 * 1024 + 5);
    const sha256 = createHash("sha256").update(value).digest("hex");
    await b.storeStream("streamed", chunks(value, 65536), { size: value.byteLength, sha256 });
    const back: Buffer[] = [];
    for await (const c of await b.loadStream("streamed", { offset: 5 })) back.push(Buffer.from(c));
    expect(Buffer.concat(back).equals(value.subarray(5))).toBe(true);
    const tail: Buffer[] = [];
    for await (const c of await b.loadStream("streamed", { offset: -10, size: 4 })) tail.push(Buffer.from(c));
    expect(Buffer.concat(tail).equals(value.subarray(value.byteLength - 10, value.byteLength - 6))).toBe(true);
    await b.close();
  });
});

describe("ranges", () => {
  it("a load of size 0 returns empty bytes without a request (the reference sent bytes=0--1 and got everything)", async () => {
    const responder = await RawResponder.start();
    try {
      const b = new RestBackend({ url: `http://127.0.0.1:${responder.port}/`, env: {} });
      responder.respond({ status: 200, reason: "OK", headers: [["Content-Length", "0"]], body: Buffer.alloc(0) });
      await b.open();
      const before = responder.requests.length;
      expect((await b.load("x", { size: 0 })).byteLength).toBe(0);
      expect((await b.load("x", { offset: 5, size: 0 })).byteLength).toBe(0);
      expect(responder.requests.length).toBe(before);
      await b.close();
    } finally {
      await responder.stop();
    }
  });

  it("a short slice far from the end asks for the size first, then sends an exact range", async () => {
    const b = new RestBackend({ url: `${server.url.replace("//", "//alice:s3cret@")}/`, env: {} });
    await b.open();
    const value = randomBytes(10_000);
    await b.store("ranged", value);
    expect(Buffer.from(await b.load("ranged", { offset: -5000, size: 10 })).equals(value.subarray(5000, 5010))).toBe(true);
    expect(Buffer.from(await b.load("ranged", { offset: -100, size: 10 })).equals(value.subarray(9900, 9910))).toBe(true);
    await b.close();
  });
});

describe("server permissions", () => {
  it("open works when the root may not even be listed, and a denied store is PermissionDenied with the server's text", async () => {
    const limited = await startServer([
      "--backend",
      `FILE:${join(root, "limited")}`,
      "--create",
      "--permissions",
      JSON.stringify({ data: "lrwWD" }),
    ]);
    try {
      const b = new RestBackend({ url: `${limited.url}/`, env: {} });
      await b.open();
      await b.store("data/x", new Uint8Array([1]));
      expect((await b.load("data/x"))[0]).toBe(1);
      const err = await b.store("other", new Uint8Array([1])).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(PermissionDenied);
      expect((err as Error).message).toContain("required for 'other'");
      await b.close();
    } finally {
      await limited.stop();
    }
  });
});
