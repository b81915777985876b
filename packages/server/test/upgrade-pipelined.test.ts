// A request that asks for an Upgrade (`Upgrade:` plus `Connection: upgrade`, what `curl --http2`
// sends on http://) is served as the reference serves it, as plain HTTP/1.1, and so are the
// requests pipelined behind it: random pipelines cut into random pieces, over TCP and stdio,
// against a real server on a posixfs store.
import { mkdtemp, readFile, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { PosixFsBackend } from "@borgstore/backend-posixfs";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Logger, RestServer } from "../src/index.js";
import { ACCEPT, RawConnection, type RawResponse, rawRequest } from "./helpers.js";

const NAMES = ["a", "b", "c"] as const;
type Name = (typeof NAMES)[number];

/** What asks for the Upgrade: curl's h2c, a websocket's, odd casing; none for a plain request. */
const UPGRADES: [string, string][][] = [
  [
    ["Connection", "Upgrade, HTTP2-Settings"],
    ["Upgrade", "h2c"],
    ["HTTP2-Settings", "AAMAAABkAAQCAAAAAAIAAAAA"],
  ],
  [
    ["upgrade", "websocket"],
    ["connection", "keep-alive, upgrade"],
  ],
  [
    ["UPGRADE", "foo/1, bar"],
    ["Connection", "UPGRADE"],
  ],
];

type Op =
  | { kind: "store"; name: Name; value: string; upgrade: number | undefined }
  | { kind: "delete"; name: Name; upgrade: number | undefined }
  | { kind: "get"; name: Name; upgrade: number | undefined };

const nameArb = fc.constantFrom(...NAMES);
const upgradeArb = fc.option(fc.nat({ max: UPGRADES.length - 1 }), { nil: undefined, freq: 2 });
const valueArb = fc.string({ minLength: 0, maxLength: 30, unit: fc.constantFrom("x", "y", "\r", "\n", " ", "G", "E", "T") });
const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ kind: fc.constant("store" as const), name: nameArb, value: valueArb, upgrade: upgradeArb }),
  fc.record({ kind: fc.constant("delete" as const), name: nameArb, upgrade: upgradeArb }),
  fc.record({ kind: fc.constant("get" as const), name: nameArb, upgrade: upgradeArb }),
);

/** Ops with at least one Upgrade among them, and where to cut their bytes (fractions of the length). */
const pipelineArb = fc.record({
  ops: fc.array(opArb, { minLength: 1, maxLength: 10 }).filter((ops) => ops.some((op) => op.upgrade !== undefined)),
  cuts: fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 6 }),
});

function bytesOf(op: Op): Buffer {
  const headers: [string, string][] = [["Host", "x"], ["Accept", ACCEPT], ...(op.upgrade === undefined ? [] : (UPGRADES[op.upgrade] ?? []))];
  switch (op.kind) {
    case "store":
      return rawRequest("POST", `/data/${op.name}`, [...headers, ["Content-Length", String(Buffer.byteLength(op.value))]], op.value);
    case "delete":
      return rawRequest("DELETE", `/data/${op.name}`, headers);
    case "get":
      return rawRequest("GET", `/data/${op.name}`, headers);
  }
}

interface Expected {
  status: number;
  body?: string;
}

/**
 * What the reference answers, the Upgrade header ignored. On TCP a 404 closes the connection and
 * nothing after it runs; a stdio session reads on after it.
 */
function model(ops: Op[], store: Map<string, string>, closingErrors: boolean): Expected[] {
  const answers: Expected[] = [];
  for (const op of ops) {
    let answer: Expected;
    if (op.kind === "store") {
      store.set(op.name, op.value);
      answer = { status: 200 };
    } else if (op.kind === "delete") {
      answer = { status: store.delete(op.name) ? 200 : 404 };
    } else {
      const value = store.get(op.name);
      answer = value === undefined ? { status: 404 } : { status: 200, body: value };
    }
    answers.push(answer);
    if (closingErrors && answer.status === 404) break;
  }
  return answers;
}

/** The pipeline's bytes cut at the given fractions of their length (duplicates and ends dropped). */
function pieces(bytes: Buffer, cuts: number[]): Buffer[] {
  const at = [...new Set(cuts.map((c) => Math.floor(c * bytes.length)))].filter((n) => n > 0 && n < bytes.length).sort((a, b) => a - b);
  return [0, ...at].map((start, i) => bytes.subarray(start, at[i] ?? bytes.length));
}

async function sendInPieces(connection: RawConnection, parts: Buffer[]): Promise<void> {
  for (const part of parts) {
    connection.send(part);
    // Some pieces arrive alone, some together with the next.
    if (part.length % 2 === 0) await new Promise((r) => setTimeout(r, 2));
  }
}

async function answers(connection: RawConnection, count: number): Promise<RawResponse[]> {
  const got: RawResponse[] = [];
  for (let i = 0; i < count; i++) got.push(await connection.response({ timeoutMs: 5_000 }));
  return got;
}

async function storedValues(store: string): Promise<Map<string, string>> {
  const values = new Map<string, string>();
  const names = await readdir(join(store, "data")).catch(() => [] as string[]);
  for (const name of names) values.set(name, await readFile(join(store, "data", name), "latin1"));
  return values;
}

function quietLogger(): Logger {
  return new Logger("error", { write: () => true } as unknown as NodeJS.WritableStream);
}

function expectAnswers(got: RawResponse[], expected: Expected[]): void {
  expect(got.map((a) => a.status)).toEqual(expected.map((e) => e.status));
  got.forEach((answer, i) => {
    const body = expected[i]?.body;
    if (body !== undefined) expect(answer.body.toString("latin1")).toBe(body);
  });
}

let root: string;
let run = 0;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "upgrade-pipelined-"));
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

async function newStore(): Promise<{ path: string; backend: PosixFsBackend }> {
  const path = join(root, `s${run++}`);
  const backend = new PosixFsBackend(path);
  await backend.create();
  return { path, backend };
}

describe("requests pipelined with ones that ask for an Upgrade", () => {
  it("are all answered and done in order over TCP, however the bytes are cut", async () => {
    await fc.assert(
      fc.asyncProperty(pipelineArb, async ({ ops, cuts }) => {
        const { path, backend } = await newStore();
        const server = new RestServer(backend, { logger: quietLogger() });
        const { port } = await server.listenTcp(0, "127.0.0.1");
        const expected = model(ops, new Map(), true);
        try {
          const connection = await RawConnection.open(port);
          await sendInPieces(connection, pieces(Buffer.concat(ops.map(bytesOf)), cuts));
          expectAnswers(await answers(connection, expected.length), expected);
          if (expected.every((answer) => answer.status !== 404)) {
            // Still open for more: the connection was not left to a parser that stopped reading.
            connection.send(bytesOf({ kind: "get", name: "a", upgrade: 0 }));
            expect((await connection.response({ timeoutMs: 5_000 })).status).toBeGreaterThan(0);
          }
          connection.close();
        } finally {
          // Waits for everything the server still runs: a request it should not have run shows below.
          await server.shutdown(5_000);
        }
        const after = new Map<string, string>();
        model(ops, after, true);
        expect(await storedValues(path)).toEqual(after);
        await rm(path, { recursive: true, force: true });
      }),
      { numRuns: Number(process.env.BORGSTORE_FUZZ_RUNS ?? 40) },
    );
  }, 120_000);

  it("are all answered and done in order over stdio, however the bytes are cut", async () => {
    await fc.assert(
      fc.asyncProperty(pipelineArb, async ({ ops, cuts }) => {
        const { path, backend } = await newStore();
        const server = new RestServer(backend, { logger: quietLogger(), stdio: true });
        const stdin = new PassThrough();
        const stdout = new PassThrough();
        const session = server.serveStreams(stdin, stdout);
        const expected = model(ops, new Map(), false);
        try {
          const connection = RawConnection.fromStreams(stdout, stdin);
          await sendInPieces(connection, pieces(Buffer.concat(ops.map(bytesOf)), cuts));
          expectAnswers(await answers(connection, expected.length), expected);
          stdin.end();
          await session;
        } finally {
          await server.shutdown(5_000);
        }
        const after = new Map<string, string>();
        model(ops, after, false);
        expect(await storedValues(path)).toEqual(after);
        await rm(path, { recursive: true, force: true });
      }),
      { numRuns: Number(process.env.BORGSTORE_FUZZ_RUNS ?? 40) },
    );
  }, 120_000);

  it("come back to the app as sent, header values byte for byte, without the Upgrade header", async () => {
    const { backend } = await newStore();
    const server = new RestServer(backend, { logger: quietLogger() });
    const { port } = await server.listenTcp(0, "127.0.0.1");
    const seen: { url?: string; headers?: string[]; version?: string }[] = [];
    server.http.prependListener("request", (req) => seen.push({ url: req.url, headers: req.rawHeaders, version: req.httpVersion }));
    try {
      const connection = await RawConnection.open(port);
      connection.send(
        Buffer.from(
          `GET /data/a?x=%20 HTTP/1.1\r\nHost: x\r\nAccept:${ACCEPT}\r\nX-Latin: caf\xe9  \r\nUpgrade: h2c\r\nX-Empty:\r\nConnection: Upgrade\r\n\r\n`,
          "latin1",
        ),
      );
      expect((await connection.response()).status).toBe(404);
      connection.close();
    } finally {
      await server.shutdown(5_000);
    }
    expect(seen).toEqual([
      {
        url: "/data/a?x=%20",
        version: "1.1",
        headers: ["Host", "x", "Accept", ACCEPT, "X-Latin", "caf\xe9", "X-Empty", "", "Connection", "Upgrade"],
      },
    ]);
  });
});
