// RFC 9112 §9.6: once an answer closes the connection, no request pipelined behind it on that
// connection may run. Random pipelines against a real server on a posixfs store, and a race of
// pipelining connections against a graceful shutdown.
import { mkdtemp, readFile, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PosixFsBackend } from "@borgstore/backend-posixfs";
import { CountingLayer } from "@borgstore/core/backend";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Logger, RestServer } from "../src/index.js";
import { ACCEPT, RawConnection, type RawResponse, header, rawRequest } from "./helpers.js";

const NAMES = ["a", "b", "c"] as const;
type Name = (typeof NAMES)[number];

type Op =
  | { kind: "store"; name: Name; value: string; close: boolean }
  | { kind: "delete"; name: Name }
  | { kind: "get"; name: Name }
  /** A store without the protocol's Accept: 406. */
  | { kind: "wrongAccept"; name: Name; value: string }
  /** A method Node parses and the protocol lacks: 501. */
  | { kind: "unsupported"; name: Name; value: string }
  /** Bytes Node's parser refuses: 400, and nothing after them can be read. */
  | { kind: "malformed" };

const nameArb = fc.constantFrom(...NAMES);
const valueArb = fc.string({ minLength: 0, maxLength: 40, unit: fc.constantFrom("x", "y", "z", "0", "\n", " ") });
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ kind: fc.constant("store" as const), name: nameArb, value: valueArb, close: fc.boolean() }).map(rareClose) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant("delete" as const), name: nameArb }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant("get" as const), name: nameArb }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("wrongAccept" as const), name: nameArb, value: valueArb }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("unsupported" as const), name: nameArb, value: valueArb }) },
  { weight: 1, arbitrary: fc.constant({ kind: "malformed" as const }) },
);

/** A client's Connection: close on one store in four (else most pipelines would end at once). */
function rareClose(op: Extract<Op, { kind: "store" }>): Op {
  return { ...op, close: op.close && op.value.length % 4 === 0 };
}

function bytesOf(op: Op): Buffer {
  const accept: [string, string] = ["Accept", ACCEPT];
  const host: [string, string] = ["Host", "x"];
  switch (op.kind) {
    case "store": {
      const headers: [string, string][] = [host, accept, ["Content-Length", String(Buffer.byteLength(op.value))]];
      if (op.close) headers.push(["Connection", "close"]);
      return rawRequest("POST", `/data/${op.name}`, headers, op.value);
    }
    case "delete":
      return rawRequest("DELETE", `/data/${op.name}`, [host, accept]);
    case "get":
      return rawRequest("GET", `/data/${op.name}`, [host, accept]);
    case "wrongAccept":
      return rawRequest("POST", `/data/${op.name}`, [host, ["Content-Length", String(Buffer.byteLength(op.value))]], op.value);
    case "unsupported":
      return rawRequest("PUT", `/data/${op.name}`, [host, accept, ["Content-Length", String(Buffer.byteLength(op.value))]], op.value);
    case "malformed":
      return Buffer.from("GET /data/a HTTP/1.1\r\nX: \x01\r\n\r\n", "latin1");
  }
}

interface Expected {
  status: number;
  body?: string;
  closes: boolean;
}

/** What the reference does: each request in turn, up to and including the first answer that closes. */
function model(ops: Op[], store: Map<string, string>): Expected[] {
  const answers: Expected[] = [];
  for (const op of ops) {
    let answer: Expected;
    switch (op.kind) {
      case "store":
        store.set(op.name, op.value);
        answer = { status: 200, closes: op.close };
        break;
      case "delete":
        answer = store.delete(op.name) ? { status: 200, closes: false } : { status: 404, closes: true };
        break;
      case "get": {
        const value = store.get(op.name);
        answer = value === undefined ? { status: 404, closes: true } : { status: 200, body: value, closes: false };
        break;
      }
      case "wrongAccept":
        answer = { status: 406, closes: true };
        break;
      case "unsupported":
        answer = { status: 501, closes: true };
        break;
      case "malformed":
        answer = { status: 400, closes: true };
        break;
    }
    answers.push(answer);
    if (answer.closes) break;
  }
  return answers;
}

async function readAll(connection: RawConnection): Promise<RawResponse[]> {
  const answers: RawResponse[] = [];
  for (;;) {
    if (connection.closed) {
      // What is still buffered after the close.
      try {
        answers.push(await connection.response({ timeoutMs: 50 }));
        continue;
      } catch {
        return answers;
      }
    }
    try {
      answers.push(await connection.response({ timeoutMs: 5_000 }));
    } catch {
      return answers;
    }
  }
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

let root: string;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "pipelined-closing-"));
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe("a request pipelined behind an answer that closes the connection", () => {
  let run = 0;

  it("never runs, and every answer before it comes in order (random pipelines)", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(opArb, { minLength: 1, maxLength: 12 }), fc.boolean(), async (generated, oneWrite) => {
        // A last request whose 404 closes the connection: the answers end there at the latest.
        const ops: Op[] = [...generated, { kind: "get", name: "never-stored" as Name }];
        const store = join(root, `p${run++}`);
        const backend = new PosixFsBackend(store);
        await backend.create();
        const server = new RestServer(backend, { logger: quietLogger() });
        const { port } = await server.listenTcp(0, "127.0.0.1");
        try {
          const expected = model(ops, new Map());
          const connection = await RawConnection.open(port);
          const bytes = ops.map(bytesOf);
          if (oneWrite) connection.send(Buffer.concat(bytes));
          else for (const b of bytes) connection.send(b);
          const answers = await readAll(connection);
          connection.close();
          expect(answers.map((a) => a.status)).toEqual(expected.map((e) => e.status));
          answers.forEach((answer, i) => {
            const want = expected[i] as Expected;
            if (want.body !== undefined) expect(answer.body.toString("latin1")).toBe(want.body);
            expect(header(answer, "Connection")?.toLowerCase() === "close").toBe(want.closes);
          });
        } finally {
          // Waits for everything the server still runs: a request it should not have run shows below.
          await server.shutdown(5_000);
        }
        const after = new Map<string, string>();
        model(ops, after);
        expect(await storedValues(store)).toEqual(after);
        await rm(store, { recursive: true, force: true });
      }),
      { numRuns: Number(process.env.BORGSTORE_FUZZ_RUNS ?? 60) },
    );
  }, 120_000);

  it("never runs while connections pipeline stores and deletes of the same names into a shutdown", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.array(fc.record({ remove: fc.boolean(), name: nameArb }), { minLength: 5, maxLength: 30 }), { minLength: 2, maxLength: 5 }),
        fc.integer({ min: 0, max: 30 }),
        fc.integer({ min: 0, max: 40 }),
        async (pipelines, shutdownAfterMs, secondHalfAfterMs) => {
          const store = join(root, `r${run++}`);
          const posixfs = new PosixFsBackend(store);
          await posixfs.create();
          const counting = new CountingLayer(posixfs);
          const server = new RestServer(counting, { logger: quietLogger() });
          const { port } = await server.listenTcp(0, "127.0.0.1");
          const connections = await Promise.all(pipelines.map(() => RawConnection.open(port)));
          const sent = pipelines.map((requests, c) =>
            requests.map(({ remove, name }, i) =>
              remove
                ? rawRequest("DELETE", `/data/${name}`, [["Accept", ACCEPT]])
                : rawRequest("POST", `/data/${name}`, [["Accept", ACCEPT], ["Content-Length", String(`c${c}r${i}`.length)]], `c${c}r${i}`),
            ),
          );
          // Each pipeline in two halves, the second racing the shutdown (before, during or after it).
          const sendHalf = (second: boolean) => {
            sent.forEach((requests, c) => {
              const half = requests.length >> 1;
              connections[c]?.send(Buffer.concat(second ? requests.slice(half) : requests.slice(0, half)));
            });
          };
          sendHalf(false);
          const reading = connections.map(readAll);
          setTimeout(() => sendHalf(true), secondHalfAfterMs);
          await new Promise((r) => setTimeout(r, shutdownAfterMs));
          await server.shutdown(10_000);
          const answers = await Promise.all(reading);
          for (const connection of connections) connection.close();

          let answeredWrites = 0;
          answers.forEach((received, c) => {
            const requests = pipelines[c] ?? [];
            expect(received.length).toBeLessThanOrEqual(requests.length);
            received.forEach((answer, i) => {
              const closes = header(answer, "Connection")?.toLowerCase() === "close";
              // Nothing comes after an answer that closes.
              if (closes) expect(i).toBe(received.length - 1);
              if (requests[i]?.remove) expect([200, 404]).toContain(answer.status);
              else expect(answer.status).toBe(200);
              answeredWrites += 1;
            });
          });
          // Every store and delete that reached the store was answered: none ran unheard.
          const { operations } = counting.counts;
          const executed = operations.store.succeeded + operations.store.failed + operations.delete.succeeded + operations.delete.failed;
          expect(executed).toBe(answeredWrites);
          await rm(store, { recursive: true, force: true });
        },
      ),
      { numRuns: Number(process.env.BORGSTORE_FUZZ_RUNS ?? 25) },
    );
  }, 120_000);
});
