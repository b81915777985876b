import { createHash, randomBytes } from "node:crypto";
import { existsSync, readdirSync, } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CREDENTIALS, defragSources, placeObject, RawConnection, rawRequest, request, resetPeak, type ServerProcess, startServer, statusKiB, tempDir } from "./helpers.js";

// The server's peak RSS is measured, so it runs as a child process (defrag.test.ts has the rest).

const MiB = 1024 * 1024;
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
    expect((await request(server.port, "POST", "/?cmd=defrag&target=warm", { body: defragSources([["small", 0, MiB]]) })).status).toBe(200);
    expect((await request(server.port, "POST", "/?cmd=defrag&algorithm=sha256", { body: defragSources([["small", 0, MiB]]) })).status).toBe(200);
  }, 60_000);
  afterAll(async () => {
    await server.stop();
    dir.remove();
  });

  it("defrags 2 x 192 MiB into a target raising the server's peak RSS by less than 64 MiB, bytes intact", async () => {
    const pid = server.child.pid as number;
    const before = resetPeak(pid);
    const res = await request(server.port, "POST", "/?cmd=defrag&target=t", { body: defragSources([["a", 0, SIZE], ["b", 0, SIZE]]) });
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
      body: defragSources([["a", 0, SIZE], ["b", 0, SIZE]]),
    });
    const growth = statusKiB(pid, "VmHWM") - before;
    process.stderr.write(`defrag 2 x 192 MiB by digest: peak RSS growth ${(growth / MiB).toFixed(1)} MiB\n`);
    expect(res.status).toBe(200);
    const digest = expected.digest("hex");
    expect(res.body.toString()).toBe(`data/${digest.slice(0, 2)}/${digest}`);
    expect(growth).toBeLessThan(64 * MiB);
  }, 120_000);

  it("a short range fails with 416 and the reference's text, and leaves neither target nor temp file", async () => {
    const res = await request(server.port, "POST", "/?cmd=defrag&target=short", { body: defragSources([["a", 0, SIZE], ["b", SIZE - 10, 20]]) });
    expect(res.status).toBe(416);
    expect(res.body.toString()).toContain(`Read range error from b (requested 20 bytes at offset ${SIZE - 10}, got 10)`);
    expect(existsSync(join(store, "short"))).toBe(false);
    expect(readdirSync(store, { recursive: true }).filter((p) => String(p).endsWith(".tmp"))).toEqual([]);
  }, 60_000);
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
    const body = Buffer.from(defragSources(Array.from({ length: 300_000 }, () => ["missing", 0, 0] as [string, number, number])));
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
