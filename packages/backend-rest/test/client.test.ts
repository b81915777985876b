import { createHash, randomBytes } from "node:crypto";
import { mkdtempSync, readdirSync, statSync } from "node:fs";
import { rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AuthenticationFailed, BackendError, PermissionDenied, collectBytes } from "@borgstore/core";
import { TAIL_SLACK } from "@borgstore/core/backend";
import { RestBackend } from "../src/index.js";
import { CuttingProxy } from "./helpers/cutting-proxy.js";
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

  /** Runs `store` with TMPDIR set to a fresh directory; returns the spool files seen when the source ended, and what is left after. */
  async function withTempDir(store: (seen: () => number[]) => Promise<unknown>): Promise<{ left: string[] }> {
    const temp = mkdtempSync(join(root, "tmp-"));
    const before = process.env.TMPDIR;
    process.env.TMPDIR = temp;
    try {
      await store(() =>
        readdirSync(temp).flatMap((dir) => readdirSync(join(temp, dir)).map((file) => statSync(join(temp, dir, file)).size)),
      );
    } finally {
      if (before === undefined) delete process.env.TMPDIR;
      else process.env.TMPDIR = before;
    }
    return { left: readdirSync(temp) };
  }

  it("storeStream of unknown length up to 8 MiB, in many chunks, is held in memory (no temp file) and stored whole", async () => {
    const b = new RestBackend({ url: url(), env: {} });
    await b.open();
    for (const [name, value] of [
      ["small", randomBytes(300_000)],
      ["at-limit", randomBytes(8 * 1024 * 1024)],
    ] as const) {
      let seen: number[] | undefined;
      const { left } = await withTempDir(async (spoolFiles) => {
        async function* source() {
          yield* chunks(value, 100_000);
          seen = spoolFiles();
        }
        await b.storeStream(name, source());
      });
      expect(seen, name).toEqual([]);
      expect(left).toEqual([]);
      expect(Buffer.from(await b.load(name)).equals(value), name).toBe(true);
    }
    await b.close();
  });

  it("storeStream of unknown length whose source fails after spooling leaves no temp file and stores nothing", async () => {
    const b = new RestBackend({ url: url(), env: {} });
    await b.open();
    const broken = new Error("source broke");
    let spooled: number[] = [];
    const { left } = await withTempDir(async (spoolFiles) => {
      async function* source() {
        yield* chunks(randomBytes(9 * 1024 * 1024), 1024 * 1024);
        spooled = spoolFiles();
        throw broken;
      }
      await expect(b.storeStream("broken-spool", source())).rejects.toBe(broken);
    });
    expect(spooled.length, "it had spooled to a file").toBe(1);
    expect(left).toEqual([]);
    expect((await b.info("broken-spool")).exists).toBe(false);
    await b.close();
  });

  it("storeStream with size and hash, whose source fails after an empty last chunk, never sends its last bytes", async () => {
    // A bare peer records only requests whose body arrived whole (a server storing whatever arrived
    // would store those): the client must hold back its last non-empty chunk until the source ends well.
    const responder = await RawResponder.start();
    try {
      const b = new RestBackend({ url: `http://127.0.0.1:${responder.port}/`, env: {} });
      responder.respond({ status: 200, reason: "OK", headers: [["Content-Length", "0"]], body: Buffer.alloc(0) });
      await b.open();
      const value = Buffer.from("the whole value");
      const broken = new Error("failed at the end");
      async function* source() {
        yield value;
        yield new Uint8Array(0);
        throw broken;
      }
      const sha256 = createHash("sha256").update(value).digest("hex");
      await expect(b.storeStream("held-back", source(), { size: value.byteLength, sha256 })).rejects.toBe(broken);
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(responder.requests.filter((r) => r.method === "POST")).toEqual([]);
      await b.close();
    } finally {
      await responder.stop();
    }
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

});

describe("a short slice far from the end", () => {
  // Far more than TAIL_SLACK (64 KiB) before the end: the client may ask for the size first and fetch only the piece.
  const far = { offset: -2_500_000, size: 100 };
  const older = randomBytes(3 * 1024 * 1024 + 7);
  const newer = randomBytes(5 * 1024 * 1024 + 13);
  const sliceOf = (value: Uint8Array) => Buffer.from(value.subarray(value.byteLength + far.offset, value.byteLength + far.offset + far.size));
  let proxy: CuttingProxy;
  let direct: RestBackend;
  let watched: RestBackend;

  beforeAll(async () => {
    proxy = await CuttingProxy.start(Number(new URL(server.url).port));
    proxy.watchRequests(true);
    direct = new RestBackend({ url: `${server.url.replace("//", "//alice:s3cret@")}/`, env: {} });
    watched = new RestBackend({ url: `http://alice:s3cret@127.0.0.1:${proxy.port}/`, env: {} });
    await direct.open();
    await watched.open();
    await direct.store("far", older);
    // Any 206 tells the client whether the server's ranged replies carry Content-Range totals (ours do).
    await watched.load("far", { offset: -10, size: 5 });
  });
  afterAll(async () => {
    await watched?.close();
    await direct?.close();
    await proxy?.stop();
  });

  it("asks for the size first, then sends an exact range (never the whole tail) once the server's 206 replies carry Content-Range totals", async () => {
    await direct.store("far", older);
    proxy.heads.length = 0;
    expect(Buffer.from(await watched.load("far", far)).equals(sliceOf(older))).toBe(true);
    const start = older.byteLength + far.offset;
    expect(proxy.heads.map((head) => head.split("\r\n")[0])).toEqual(["head /far http/1.1", "get /far http/1.1"]);
    expect(proxy.heads[1]).toContain(`\r\nrange: bytes=${start}-${start + far.size - 1}\r\n`);
  });

  it("a tail at most TAIL_SLACK (64 KiB) longer than the slice is one suffix request, cut here (no size asked)", async () => {
    await direct.store("far", older);
    for (const near of [
      { offset: -(TAIL_SLACK + 100), size: 100 },
      { offset: -TAIL_SLACK, size: 30_000 },
    ]) {
      proxy.heads.length = 0;
      const start = older.byteLength + near.offset;
      expect(Buffer.from(await watched.load("far", near)).equals(older.subarray(start, start + near.size))).toBe(true);
      expect(proxy.heads.map((head) => head.split("\r\n")[0])).toEqual(["get /far http/1.1"]);
      expect(proxy.heads[0]).toContain(`\r\nrange: bytes=-${-near.offset}\r\n`);
    }
  });

  it("before any 206 said whether replies carry totals, a far slice is its whole tail (one suffix request), cut here", async () => {
    await direct.store("far", older);
    const fresh = new RestBackend({ url: `http://alice:s3cret@127.0.0.1:${proxy.port}/`, env: {} });
    await fresh.open();
    try {
      proxy.heads.length = 0;
      expect(Buffer.from(await fresh.load("far", far)).equals(sliceOf(older))).toBe(true);
      expect(proxy.heads.map((head) => head.split("\r\n")[0])).toEqual(["get /far http/1.1"]);
      expect(proxy.heads[0]).toContain(`\r\nrange: bytes=-${-far.offset}\r\n`);
    } finally {
      await fresh.close();
    }
  });

  it("overwritten with a value of another size between the size and the range, is asked again and comes from the newer value", async () => {
    await direct.store("far", older);
    let overwritten = false;
    proxy.beforeRequest = async (head) => {
      if (overwritten || !/\r\nrange: bytes=\d+-\d+\r\n/.test(head)) return;
      overwritten = true;
      await direct.store("far", newer);
    };
    proxy.heads.length = 0;
    try {
      for (const kind of ["load", "loadStream"] as const) {
        await direct.store("far", older);
        overwritten = false;
        const bytes = kind === "load" ? await watched.load("far", far) : await collectBytes(await watched.loadStream("far", far));
        expect(overwritten).toBe(true);
        expect(Buffer.from(bytes).equals(sliceOf(newer)), kind).toBe(true);
      }
    } finally {
      proxy.beforeRequest = undefined;
    }
    // Each read: HEAD, the exact range of the older value's end, HEAD again, the exact range of the newer one.
    expect(proxy.heads.filter((head) => head.startsWith("head ")).length).toBe(4);
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

describe("defrag", () => {
  let proxy: CuttingProxy;
  const through = (options: { permissions?: Record<string, string> } = {}) =>
    new RestBackend({ url: `http://alice:s3cret@127.0.0.1:${proxy.port}/`, env: {}, ...options });
  beforeAll(async () => {
    proxy = await CuttingProxy.start(Number(new URL(server.url).port));
    proxy.watchRequests(true);
  });
  afterAll(async () => {
    await proxy?.stop();
  });
  const requestLines = () => proxy.heads.map((head) => head.split("\r\n")[0]);

  it("is one request to the server: no source bytes come to the client", async () => {
    const b = through();
    await b.open();
    try {
      await b.store("dfa", new TextEncoder().encode("0123456789"));
      proxy.heads.length = 0;
      expect(await b.defrag([["dfa", 2, 3], ["dfa", -2, 2]], { target: "dft" })).toBe("dft");
      expect(requestLines()).toEqual(["post /?cmd=defrag&target=dft http/1.1"]);
      expect(new TextDecoder().decode(await b.load("dft"))).toBe("23489");
    } finally {
      await b.close();
    }
  });

  it("is core's copying defrag under client-side permissions, which checks every source before any request", async () => {
    const b = through({ permissions: { "": "lrwWD", secret: "l" } });
    await b.open();
    try {
      await b.store("dfb", new TextEncoder().encode("abcdef"));
      proxy.heads.length = 0;
      const denied = await b.defrag([["secret/x", 0, 1]], { target: "dfu" }).catch((e: unknown) => e);
      expect(denied).toBeInstanceOf(PermissionDenied);
      expect(requestLines()).toEqual([]);
      expect(await b.defrag([["dfb", 1, 2]], { target: "dfu" })).toBe("dfu");
      expect(requestLines()).not.toContain("post /?cmd=defrag&target=dfu http/1.1");
      expect(new TextDecoder().decode(await b.load("dfu"))).toBe("bc");
    } finally {
      await b.close();
    }
  });
});
