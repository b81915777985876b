import { createHash, randomBytes } from "node:crypto";
import fc from "fast-check";
import { closeSync, existsSync, ftruncateSync, openSync, readdirSync, writeSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RawConnection, type RunningServer, type ServerProcess, rawRequest, request, resetPeak, startInProcess, startServer, statusKiB, tempDir } from "./helpers.js";

const MiB = 1024 * 1024;
const CREDENTIALS = { BORGSTORE_SERVER_USERNAME: "testuser", BORGSTORE_SERVER_PASSWORD: "testpass" };

/** A file of `size` bytes straight in the posixfs store: `head` at the start, the rest sparse (fast to make). */
function placeObject(store: string, name: string, size: number, head: Buffer = Buffer.alloc(0)): void {
  const fd = openSync(join(store, name), "w");
  ftruncateSync(fd, size);
  writeSync(fd, head, 0, head.length, 0);
  closeSync(fd);
}

function sources(list: Array<[string, number, number]>): string {
  return JSON.stringify(list);
}

describe("defrag streams: memory stays flat however large the ranges (real child server, posixfs)", () => {
  const dir = tempDir();
  const store = join(dir.path, "store");
  const SIZE = 192 * MiB;
  const headA = randomBytes(MiB);
  const headB = randomBytes(MiB);
  let server: ServerProcess;

  beforeAll(async () => {
    server = await startServer(["--backend", `FILE:${store}`, "--create"], CREDENTIALS);
    placeObject(store, "a", SIZE, headA);
    placeObject(store, "b", SIZE, headB);
    placeObject(store, "small", MiB, headA);
    // Warm the code paths (one-off allocations, hashers) so they do not count.
    expect((await request(server.port, "POST", "/?cmd=defrag&target=warm", { body: sources([["small", 0, MiB]]) })).status).toBe(200);
    expect((await request(server.port, "POST", "/?cmd=defrag&algorithm=sha256", { body: sources([["small", 0, MiB]]) })).status).toBe(200);
  }, 60_000);
  afterAll(async () => {
    await server.stop();
    dir.remove();
  });

  it("defrags 2 x 192 MiB into a target raising the server's peak RSS by less than 64 MiB, bytes intact", async () => {
    const pid = server.child.pid as number;
    const before = resetPeak(pid);
    const res = await request(server.port, "POST", "/?cmd=defrag&target=t", { body: sources([["a", 0, SIZE], ["b", 0, SIZE]]) });
    const growth = statusKiB(pid, "VmHWM") - before;
    process.stderr.write(`defrag 2 x 192 MiB to a target: peak RSS growth ${(growth / MiB).toFixed(1)} MiB\n`);
    expect(res.status).toBe(200);
    expect(res.body.toString()).toBe("t");
    expect(growth).toBeLessThan(64 * MiB);
    const head = await request(server.port, "HEAD", "/t");
    expect(head.headers.find(([k]) => k === "Content-Length")?.[1]).toBe(String(2 * SIZE));
    const first = await request(server.port, "GET", "/t", { headers: [["Range", `bytes=0-${MiB - 1}`]] });
    expect(first.body.equals(headA)).toBe(true);
    const second = await request(server.port, "GET", "/t", { headers: [["Range", `bytes=${SIZE}-${SIZE + MiB - 1}`]] });
    expect(second.body.equals(headB)).toBe(true);
  }, 120_000);

  it("defrags 2 x 192 MiB under its digest name (hash pass, then a verified store pass) with the same flat memory", async () => {
    const expected = createHash("sha256");
    const zeros = Buffer.alloc(SIZE - MiB);
    expected.update(headA);
    expected.update(zeros);
    expected.update(headB);
    expected.update(zeros);
    const pid = server.child.pid as number;
    const before = resetPeak(pid);
    const res = await request(server.port, "POST", "/?cmd=defrag&algorithm=sha256&namespace=data&levels=1", {
      body: sources([["a", 0, SIZE], ["b", 0, SIZE]]),
    });
    const growth = statusKiB(pid, "VmHWM") - before;
    process.stderr.write(`defrag 2 x 192 MiB by digest: peak RSS growth ${(growth / MiB).toFixed(1)} MiB\n`);
    expect(res.status).toBe(200);
    const digest = expected.digest("hex");
    expect(res.body.toString()).toBe(`data/${digest.slice(0, 2)}/${digest}`);
    expect(growth).toBeLessThan(64 * MiB);
  }, 120_000);

  it("a short range fails with 416 and the reference's text, and leaves neither target nor temp file", async () => {
    const res = await request(server.port, "POST", "/?cmd=defrag&target=short", { body: sources([["a", 0, SIZE], ["b", SIZE - 10, 20]]) });
    expect(res.status).toBe(416);
    expect(res.body.toString()).toContain(`Read range error from b (requested 20 bytes at offset ${SIZE - 10}, got 10)`);
    expect(existsSync(join(store, "short"))).toBe(false);
    expect(readdirSync(store, { recursive: true }).filter((p) => String(p).endsWith(".tmp"))).toEqual([]);
  }, 60_000);
});

describe("defrag and --max-object-size (in-process server, posixfs)", () => {
  const dir = tempDir();
  const store = join(dir.path, "store");
  let server: RunningServer;

  beforeAll(async () => {
    server = await startInProcess(["--backend", `FILE:${store}`, "--create", "--max-object-size", "1000000"], CREDENTIALS);
    placeObject(store, "a", 600_000);
    placeObject(store, "b", 600_000);
  });
  afterAll(async () => {
    await server.stop();
    dir.remove();
  });

  it("refuses a defrag whose ranges add up to more than --max-object-size with 413 and stores nothing", async () => {
    const res = await request(server.port, "POST", "/?cmd=defrag&target=t", { body: sources([["a", 0, 600_000], ["b", 0, 600_000]]) });
    expect(res.status).toBe(413);
    expect(existsSync(join(store, "t"))).toBe(false);
    const byDigest = await request(server.port, "POST", "/?cmd=defrag&algorithm=sha256", { body: sources([["a", 0, 600_000], ["b", 0, 600_000]]) });
    expect(byDigest.status).toBe(413);
    expect(readdirSync(store).sort()).toEqual(["a", "b"]);
  });

  it("refuses before reading anything: a missing source still gets 413, not 404", async () => {
    const res = await request(server.port, "POST", "/?cmd=defrag&target=t", { body: sources([["missing", 0, 600_000], ["b", 0, 600_000]]) });
    expect(res.status).toBe(413);
  });

  it("accepts a defrag of exactly --max-object-size bytes", async () => {
    const res = await request(server.port, "POST", "/?cmd=defrag&target=t", { body: sources([["a", 0, 500_000], ["b", 0, 500_000]]) });
    expect(res.status).toBe(200);
    expect((await request(server.port, "HEAD", "/t")).headers.find(([k]) => k === "Content-Length")?.[1]).toBe("1000000");
  });
});

describe("a defrag source list larger than the memory budget (real child server, posixfs)", () => {
  const dir = tempDir();
  let server: ServerProcess;
  beforeAll(async () => {
    server = await startServer(["--backend", `FILE:${join(dir.path, "store")}`, "--create", "--memory-budget", String(4 * MiB)], CREDENTIALS);
  });
  afterAll(async () => {
    await server.stop();
    dir.remove();
  });

  it("is refused with 413 before its body is read, the server's peak RSS staying flat", async () => {
    // 3 MB of JSON: about 30 MB once parsed, several times the 4 MiB budget.
    const body = Buffer.from(sources(Array.from({ length: 300_000 }, () => ["missing", 0, 0] as [string, number, number])));
    const pid = server.child.pid as number;
    const before = resetPeak(pid);
    const conn = await RawConnection.open(server.port);
    const headers: [string, string][] = [
      ["Host", "x"],
      ["Accept", "application/vnd.x.borgstore.rest.v1"],
      ["Authorization", `Basic ${Buffer.from("testuser:testpass").toString("base64")}`],
      ["Content-Length", String(body.length)],
    ];
    conn.send(rawRequest("POST", "/?cmd=defrag&target=t", headers));
    let answer = await conn.response({ timeoutMs: 2_000 }).catch(() => undefined);
    // A server that waits for the list gets it, and shows what reading it costs.
    if (answer === undefined) {
      conn.send(body);
      answer = await conn.response({ timeoutMs: 30_000 });
    }
    const growth = statusKiB(pid, "VmHWM") - before;
    process.stderr.write(`defrag source list of 3 MB under a 4 MiB budget: ${answer.status}, peak RSS growth ${(growth / MiB).toFixed(1)} MiB\n`);
    conn.close();
    expect(answer.status).toBe(413);
    expect(answer.reason).toMatch(/source list/i);
    expect(growth).toBeLessThan(16 * MiB);
  }, 60_000);
});

describe("defrag on hostile source lists over HTTP (property, in-process server, posixfs)", () => {
  const dir = tempDir();
  const store = join(dir.path, "store");
  let server: RunningServer;

  beforeAll(async () => {
    server = await startInProcess(["--backend", `FILE:${store}`, "--create", "--max-object-size", "4096"], CREDENTIALS);
    placeObject(store, "a", 100, Buffer.from("a".repeat(100)));
    placeObject(store, "b", 10, Buffer.from("0123456789"));
  });
  afterAll(async () => {
    await server.stop();
    dir.remove();
  });

  const name = fc.oneof(
    fc.constantFrom("a", "b", "missing", "../etc/passwd", "/abs", "", "a/", "dir/x"),
    fc.string({ maxLength: 6 }),
  );
  const number = fc.oneof(
    fc.integer({ min: -200, max: 5000 }),
    fc.constantFrom(Number.MAX_SAFE_INTEGER, -Number.MAX_SAFE_INTEGER, 1.5, 1e300),
  );
  const triple = fc.oneof(
    { weight: 5, arbitrary: fc.tuple(name, number, number) },
    { weight: 1, arbitrary: fc.jsonValue() },
  );
  const body = fc.oneof(
    { weight: 5, arbitrary: fc.array(triple, { maxLength: 5 }).map((list) => JSON.stringify(list)) },
    { weight: 1, arbitrary: fc.string({ maxLength: 20 }) },
  );
  const query = fc.constantFrom("target=out", "algorithm=sha256", "algorithm=blake3&namespace=ns&levels=1", "algorithm=nope");

  it("answers every source list with a protocol status and stores a target only on 200, leaving no temp file", async () => {
    await fc.assert(
      fc.asyncProperty(body, query, async (text, params) => {
        const res = await request(server.port, "POST", `/?cmd=defrag&${params}`, { body: text });
        expect([200, 400, 403, 404, 413, 416, 500], `${params} ${text} → ${res.status} ${res.reason}`).toContain(res.status);
        // A directory as a source ("" is the root) is an OS error, a bare 500 as in the reference:
        // never with the error's own text.
        if (res.status === 500) {
          expect(res.reason).toBe("Internal Server Error");
          expect(JSON.parse(text).some((s: unknown) => Array.isArray(s) && s[0] === "")).toBe(true);
        }
        if (res.status === 200) {
          const stored = res.body.toString();
          expect((await request(server.port, "HEAD", `/${stored}`)).status).toBe(200);
          expect((await request(server.port, "DELETE", `/${stored}`)).status).toBe(200);
        }
        expect(readdirSync(store, { recursive: true }).filter((p) => String(p).endsWith(".tmp"))).toEqual([]);
      }),
      { numRuns: 150 },
    );
  }, 60_000);
});

describe("defrag on a backend without native streaming (memory:) stays within --memory-budget", () => {
  let server: RunningServer;
  beforeAll(async () => {
    // Created through the server: --create would create another memory: instance.
    server = await startInProcess(["--backend", "memory:", "--memory-budget", "1000000"], CREDENTIALS);
    expect((await request(server.port, "POST", "/?cmd=create")).status).toBe(200);
    for (const name of ["a", "b"]) expect((await request(server.port, "POST", `/${name}`, { body: Buffer.alloc(300_000, name) })).status).toBe(200);
  });
  afterAll(async () => {
    await server.stop();
  });

  it("defrags what fits and refuses with 413 what the budget never could hold (result plus a range)", async () => {
    const fits = await request(server.port, "POST", "/?cmd=defrag&target=t", { body: sources([["a", 0, 200_000], ["b", 0, 200_000]]) });
    expect(fits.status).toBe(200);
    const tooLarge = await request(server.port, "POST", "/?cmd=defrag&target=u", { body: sources([["a", 0, 300_000], ["b", 0, 300_000]]) });
    expect(tooLarge.status).toBe(413);
    expect((await request(server.port, "HEAD", "/u")).status).toBe(404);
  });
});

describe("defrag by digest while its source is overwritten (race, in-process server, posixfs)", () => {
  const dir = tempDir();
  const store = join(dir.path, "store");
  let server: RunningServer;
  beforeAll(async () => {
    server = await startInProcess(["--backend", `FILE:${store}`, "--create"], CREDENTIALS);
  });
  afterAll(async () => {
    await server.stop();
    dir.remove();
  });

  it("stores only under the digest of what it stored (200), or nothing (422 when the source changed between the passes)", async () => {
    const SIZE = 256 * 1024;
    expect((await request(server.port, "POST", "/src", { body: randomBytes(SIZE) })).status).toBe(200);
    const until = Date.now() + 2000;
    const statuses: number[] = [];
    const names: string[] = [];
    const writer = async () => {
      while (Date.now() < until) expect((await request(server.port, "POST", "/src", { body: randomBytes(SIZE) })).status).toBe(200);
    };
    const defragger = async () => {
      while (Date.now() < until) {
        const res = await request(server.port, "POST", "/?cmd=defrag&algorithm=sha256&namespace=out", { body: sources([["src", 0, SIZE]]) });
        statuses.push(res.status);
        if (res.status === 200) names.push(res.body.toString());
      }
    };
    await Promise.all([writer(), writer(), defragger(), defragger()]);
    // Writers fast enough change the source under every racing defrag; once they stop, one succeeds.
    const settled = await request(server.port, "POST", "/?cmd=defrag&algorithm=sha256&namespace=out", { body: sources([["src", 0, SIZE]]) });
    expect(settled.status).toBe(200);
    names.push(settled.body.toString());
    expect(statuses.filter((s) => s !== 200 && s !== 422)).toEqual([]);
    for (const name of names) {
      const stored = await request(server.port, "GET", `/${name}`);
      expect(`out/${createHash("sha256").update(stored.body).digest("hex")}`).toBe(name);
    }
    process.stderr.write(`defrag race: ${statuses.filter((s) => s === 200).length} stored, ${statuses.filter((s) => s === 422).length} refused (source changed)\n`);
    expect(readdirSync(store, { recursive: true }).filter((p) => String(p).endsWith(".tmp"))).toEqual([]);
  }, 30_000);
});
