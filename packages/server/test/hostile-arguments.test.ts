import { existsSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ACCEPT, AUTH, CREDENTIALS, header, RawConnection, rawRequest, request, type RunningServer, startInProcess, tempDir } from "./helpers.js";


/** Request headers of a defrag POST announcing `length` body bytes. */
function defragHead(query: string, length: number): Buffer {
  return rawRequest("POST", `/?cmd=defrag&${query}`, [
    ["Host", "127.0.0.1"],
    ["Accept", ACCEPT],
    ["Authorization", AUTH],
    ["Content-Length", String(length)],
  ]);
}

/** A JSON source list of `bytes` bytes: one triple, padded with whitespace (cheap to defrag). */
function paddedSourceList(bytes: number): Buffer {
  const list = '[["a",0,1]]';
  return Buffer.from(list.slice(0, -1) + " ".repeat(bytes - list.length) + "]");
}

describe.each([
  { label: "full rights", permissions: [] as string[] },
  { label: "read-only", permissions: ["--permissions", "borgbackup-read-only"] },
])("defrag levels are checked at once ($label, in-process server, posixfs)", ({ permissions }) => {
  const dir = tempDir();
  const store = join(dir.path, "store");
  let server: RunningServer;

  beforeAll(async () => {
    server = await startInProcess(["--backend", `FILE:${store}`, "--create", ...permissions], CREDENTIALS);
    writeFileSync(join(store, "a"), "hello world");
  }, 30_000);
  afterAll(async () => {
    await server.stop();
    dir.remove();
  });

  it.each(["999999999999", "9".repeat(400), "51", "-1"])("answers levels=%s with 400 within seconds, the server staying responsive", async (levels) => {
    const started = Date.now();
    const res = await request(server.port, "POST", `/?cmd=defrag&algorithm=sha256&levels=${levels}`, { body: '[["a",0,5]]' });
    expect(res.status, res.body.toString()).toBe(400);
    expect(res.body.toString()).toMatch(/levels must be an integer from 0 to 50/);
    expect(Date.now() - started).toBeLessThan(5000);
    expect((await request(server.port, "HEAD", "/a")).status).toBe(200);
  });
});

describe("defrag refuses before reading the source list (in-process server, posixfs)", () => {
  const dir = tempDir();
  const store = join(dir.path, "store");
  let readOnly: RunningServer;
  let tight: RunningServer;

  beforeAll(async () => {
    readOnly = await startInProcess(["--backend", `FILE:${store}`, "--create", "--permissions", "borgbackup-read-only"], CREDENTIALS);
    writeFileSync(join(store, "a"), "hello world");
    // A 2 MiB budget: a source list reserves 10 times its bytes.
    tight = await startInProcess(["--backend", `FILE:${store}`, "--memory-budget", String(2 * 1024 * 1024)], CREDENTIALS);
  }, 30_000);
  afterAll(async () => {
    await readOnly.stop();
    await tight.stop();
    dir.remove();
  });

  it.each(["target=t", "algorithm=sha256&namespace=data"])(
    "answers a read-only client's defrag (%s) announcing 15 MiB with 403 without waiting for the body, and closes",
    async (query) => {
      const conn = await RawConnection.open(readOnly.port);
      try {
        conn.send(defragHead(query, 15 * 1024 * 1024));
        const res = await conn.response({ timeoutMs: 5000 });
        expect(res.status, res.body.toString()).toBe(403);
        expect(await conn.waitClosed(5000)).toBe(true);
      } finally {
        conn.close();
      }
      expect(readdirSync(store).sort()).toEqual(["a"]);
    },
  );

  it("lets a read-only client defrag where it may write (locks/)", async () => {
    const res = await request(readOnly.port, "POST", "/?cmd=defrag&target=locks/t", { body: '[["a",0,5]]' });
    expect(res.status, res.body.toString()).toBe(200);
    expect(existsSync(join(store, "locks", "t"))).toBe(true);
  });

  it("reserves a source list's memory from the budget while it is read: a third large list gets 503 + Retry-After", async () => {
    const body = paddedSourceList(100_000); // reserves 10 x 100 KB: two fit, a third doesn't
    const held = [await RawConnection.open(tight.port), await RawConnection.open(tight.port)];
    try {
      for (const [i, conn] of held.entries()) {
        conn.send(defragHead(`target=t${i}`, body.length));
        conn.send(body.subarray(0, 1000));
      }
      // Both hold their reservation until their body has arrived and their defrag is done.
      await new Promise((r) => setTimeout(r, 300));
      const third = await request(tight.port, "POST", "/?cmd=defrag&target=t2", { body });
      expect(third.status, third.body.toString()).toBe(503);
      expect(header(third, "Retry-After")).toBe("1");
      for (const conn of held) conn.send(body.subarray(1000));
      for (const conn of held) {
        const res = await conn.response({ timeoutMs: 20_000 });
        expect(res.status, res.body.toString()).toBe(200);
      }
    } finally {
      for (const conn of held) conn.close();
    }
    // Released: the same list is taken now.
    const again = await request(tight.port, "POST", "/?cmd=defrag&target=t2", { body });
    expect(again.status, again.body.toString()).toBe(200);
  }, 60_000);

  it("refuses a source list that could never fit the budget with 413 before reading it, and serves other lists meanwhile", async () => {
    const big = paddedSourceList(300_000); // 10 x 300 KB > 2 MiB: more than the whole budget
    const conn = await RawConnection.open(tight.port);
    try {
      conn.send(defragHead("target=t3", big.length));
      const res = await conn.response({ timeoutMs: 10_000 });
      expect(res.status, res.body.toString()).toBe(413);
      expect(res.reason).toMatch(/source list too large/);
    } finally {
      conn.close();
    }
    expect((await request(tight.port, "POST", "/?cmd=defrag&target=t4", { body: '[["a",0,1]]' })).status).toBe(200);
    expect(existsSync(join(store, "t3"))).toBe(false);
  }, 60_000);
});

describe("names that are the store root or a backend's own files are refused with 400 (in-process server, posixfs)", () => {
  const dir = tempDir();
  const store = join(dir.path, "store");
  let server: RunningServer;

  beforeAll(async () => {
    server = await startInProcess(["--backend", `FILE:${store}`, "--create"], CREDENTIALS);
    writeFileSync(join(store, "a"), "hello world");
  }, 30_000);
  afterAll(async () => {
    await server.stop();
    dir.remove();
  });

  it.each(["/.", "/uploads.hid/x", "/quota.hid", "/a/./b", "/uploads.hid"])("%s: store, load, info, delete, move, defrag target all give 400", async (path) => {
    const name = path.slice(1);
    const statuses = {
      store: (await request(server.port, "POST", path, { body: "x" })).status,
      load: (await request(server.port, "GET", path)).status,
      info: (await request(server.port, "HEAD", path)).status,
      delete: (await request(server.port, "DELETE", path)).status,
      moveFrom: (await request(server.port, "POST", `/?cmd=move&current=${name}&new=z`)).status,
      moveTo: (await request(server.port, "POST", `/?cmd=move&current=a&new=${name}`)).status,
      defragTo: (await request(server.port, "POST", `/?cmd=defrag&target=${name}`, { body: '[["a",0,1]]' })).status,
    };
    expect(statuses).toEqual({ store: 400, load: 400, info: 400, delete: 400, moveFrom: 400, moveTo: 400, defragTo: 400 });
    expect(readdirSync(store).sort()).toEqual(["a"]);
    expect((await request(server.port, "GET", "/a")).body.toString()).toBe("hello world");
  });

  it("a value stored under a look-alike name survives a restart (uploads.hid is swept at each open)", async () => {
    expect((await request(server.port, "POST", "/uploads.hidden/x", { body: "kept" })).status).toBe(200);
    await server.stop();
    server = await startInProcess(["--backend", `FILE:${store}`], CREDENTIALS);
    expect((await request(server.port, "GET", "/uploads.hidden/x")).body.toString()).toBe("kept");
  });
});
