import { once } from "node:events";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { S3Backend } from "../src/index.js";
import { rangeAnswerMismatch } from "@borgstore/core/backend";

/**
 * A hostile S3 endpoint (no signature checks) whose object GETs ignore the Range header (200 and
 * the whole object) or answer another range than the one asked for: a ranged load must fail
 * typed, never hand out the wrong bytes as its slice.
 */
describe("S3: a ranged GET answered with other bytes than the range", () => {
  const value = Buffer.from(Array.from({ length: 100_000 }, (_, i) => i & 255));
  let behaviour: "ignoreRange" | "shiftedRange" | "honest" = "honest";
  let server: http.Server;
  let backend: S3Backend;

  beforeAll(async () => {
    server = http.createServer((req, res) => {
      if (!req.url?.includes("/data/")) {
        // ListObjectsV2 of open(): the store exists.
        res.writeHead(200, { "content-type": "application/xml" });
        res.end(
          '<?xml version="1.0"?><ListBucketResult><IsTruncated>false</IsTruncated><KeyCount>1</KeyCount><Contents><Key>p/config/x</Key><Size>1</Size></Contents></ListBucketResult>',
        );
        return;
      }
      if (req.method === "HEAD") {
        res.writeHead(200, { "content-length": value.length, etag: '"e1"' });
        res.end();
        return;
      }
      const asked = /bytes=(\d*)-(\d*)/.exec(req.headers.range ?? "");
      if (behaviour === "ignoreRange" || !asked) {
        res.writeHead(200, { "content-length": value.length, etag: '"e1"' });
        res.end(value);
        return;
      }
      const suffix = asked[1] === "";
      let start = suffix ? Math.max(0, value.length - Number(asked[2])) : Number(asked[1]);
      let end = suffix || asked[2] === "" ? value.length - 1 : Math.min(Number(asked[2]), value.length - 1);
      if (behaviour === "shiftedRange") [start, end] = [start + 1, Math.min(end + 1, value.length - 1)];
      const body = value.subarray(start, end + 1);
      res.writeHead(206, { "content-range": `bytes ${start}-${end}/${value.length}`, "content-length": body.length });
      res.end(body);
    });
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    const { port } = server.address() as AddressInfo;
    backend = new S3Backend({
      bucket: "bucket",
      path: "p",
      endpoint: `http://127.0.0.1:${port}`,
      region: "us-east-1",
      credentials: { accessKeyId: "a", secretAccessKey: "b" },
      maxAttempts: 1,
    });
    await backend.open();
  });
  afterAll(async () => {
    await backend.close();
    server.closeAllConnections();
    server.close();
  });

  const ranges: [number, number | undefined][] = [
    [10, 20],
    [50_000, undefined],
    [-30, undefined],
    [-30, 5],
  ];

  it("an honest 206 still gives the slice (load, into, loadStream)", async () => {
    behaviour = "honest";
    for (const [offset, size] of ranges) {
      const start = offset < 0 ? value.length + offset : offset;
      const want = value.subarray(start, size === undefined ? value.length : start + size);
      expect(Buffer.from(await backend.load("data/x", { offset, size }))).toEqual(want);
      expect(Buffer.from(await backend.load("data/x", { offset, size, into: new Uint8Array(200_000) }))).toEqual(want);
      const chunks: Uint8Array[] = [];
      for await (const chunk of await backend.loadStream("data/x", { offset, size })) chunks.push(chunk);
      expect(Buffer.concat(chunks)).toEqual(want);
    }
  });

  for (const hostile of ["ignoreRange", "shiftedRange"] as const) {
    it(`fails with BACKEND_ERROR when the service answers ${hostile === "ignoreRange" ? "200 with the whole object" : "a shifted range"}`, async () => {
      behaviour = hostile;
      for (const [offset, size] of ranges) {
        await expect(backend.load("data/x", { offset, size })).rejects.toMatchObject({ code: "BACKEND_ERROR" });
        await expect(backend.load("data/x", { offset, size, into: new Uint8Array(200_000) })).rejects.toMatchObject({ code: "BACKEND_ERROR" });
        await expect(backend.loadStream("data/x", { offset, size })).rejects.toMatchObject({ code: "BACKEND_ERROR" });
      }
    });
  }

  it("rangeAnswerMismatch accepts what S3 answers to each form of range, clamped at the end", () => {
    expect(rangeAnswerMismatch("bytes=0-9", 206, "bytes 0-9/100", 10)).toBeUndefined();
    expect(rangeAnswerMismatch("bytes=90-199", 206, "bytes 90-99/100", 10)).toBeUndefined();
    expect(rangeAnswerMismatch("bytes=90-", 206, "bytes 90-99/100", 10)).toBeUndefined();
    expect(rangeAnswerMismatch("bytes=-500", 206, "bytes 0-99/100", 100)).toBeUndefined();
    expect(rangeAnswerMismatch("bytes=-5", 206, "bytes 95-99/100", 5)).toBeUndefined();
    expect(rangeAnswerMismatch("bytes=-5", 206, "bytes 95-99/100", 4)).toMatch(/with 4 bytes/);
    expect(rangeAnswerMismatch("bytes=0-9", 200, undefined, 100)).toMatch(/answered 200/);
    expect(rangeAnswerMismatch("bytes=-5", 206, "bytes 94-98/100", 5)).toMatch(/with the range/);
    expect(rangeAnswerMismatch("bytes=90-", 206, "bytes 90-98/100", 9)).toMatch(/with the range/);
    expect(rangeAnswerMismatch("bytes=0-9", 206, "bytes 0-9", 10)).toMatch(/with Content-Range "bytes 0-9"/);
    // Without the object's length only an absolute start is checked.
    expect(rangeAnswerMismatch("bytes=10-19", 206, "bytes 10-19/*", 10)).toBeUndefined();
    expect(rangeAnswerMismatch("bytes=10-19", 206, "bytes 11-20/*", 10)).toMatch(/with the range/);
    expect(rangeAnswerMismatch("bytes=-5", 206, "bytes 95-99/*", 5)).toBeUndefined();
  });
});
