import { BackendAlreadyExists, BackendError, MemoryBackend, ContentHashMismatch, ObjectNotFound, PermissionDenied } from "@borgstore/core";
import { describe, expect, it } from "vitest";
import { errorReply } from "../src/index.js";
import { parseRequestTarget } from "../src/request-target.js";
import { BufferPool, MemoryBudget } from "../src/memory-budget.js";
import { HttpError } from "../src/http-error.js";
import { backendFromServerUrl, fileUrlFromPath } from "../src/backend-url.js";

describe("request targets (docs/rest-protocol.md#requests)", () => {
  it("strips slashes, keeps names undecoded and the list marker", () => {
    expect(parseRequestTarget("/ns/item?x=1")).toMatchObject({ name: "ns/item", isDirectory: false });
    expect(parseRequestTarget("/ns/")).toMatchObject({ name: "ns", isDirectory: true });
    expect(parseRequestTarget("/")).toMatchObject({ name: "", isDirectory: true });
    expect(parseRequestTarget("/a%41b").name).toBe("a%41b");
  });
  it("form-decodes the query", () => {
    expect(parseRequestTarget("/?cmd=move&current=ns%2Fa+b&new=").query.get("current")).toBe("ns/a b");
  });
  it.each(["/%2e%2e/x", "/a%2Fb", "/a%5cb", "/a%00", "/a\tb", "x"])("refuses %j", (target) => {
    expect(() => parseRequestTarget(target)).toThrow();
  });
});

describe("exception → status (docs/rest-protocol.md#errors-on-the-wire)", () => {
  it("maps core errors and redacts the storage location", () => {
    expect(errorReply(new ObjectNotFound("ns/x"), "/srv/s")).toEqual({ status: 404, message: "ns/x" });
    expect(errorReply(new PermissionDenied("denied"), undefined).status).toBe(403);
    expect(errorReply(new BackendAlreadyExists("not empty: /srv/s"), "/srv/s")).toEqual({ status: 409, message: "not empty: [STORAGE_BASE]" });
    expect(errorReply(new BackendError("x", { cause: new ContentHashMismatch() }), undefined)).toMatchObject({ status: 422, plain: true });
    expect(errorReply(new Error("/srv/s/secret"), "/srv/s")).toEqual({ status: 500, message: "Internal Server Error" });
    const os = Object.assign(new Error("ENOTEMPTY: /srv/s/ns"), { code: "ENOTEMPTY" });
    expect(errorReply(new BackendError("ENOTEMPTY: /srv/s/ns", { cause: os }), "/srv/s").message).toBe("Internal Server Error");
  });

  it("never shows Node's internal error text in a 500 (a BackendError wrapping ERR_* or any foreign error)", () => {
    const node = Object.assign(new RangeError("Cannot create a Buffer larger than 4294967296 bytes"), { code: "ERR_BUFFER_TOO_LARGE" });
    expect(errorReply(new BackendError(node.message, { cause: node }), undefined)).toEqual({ status: 500, message: "Internal Server Error" });
    const library = new TypeError("Cannot read properties of undefined (reading 'x')");
    expect(errorReply(new BackendError(library.message, { cause: library }), undefined)).toEqual({ status: 500, message: "Internal Server Error" });
    // A BackendError we raise on purpose keeps its text (the reference sends str(e) for those).
    expect(errorReply(new BackendError("rclone said: quota full"), undefined)).toEqual({ status: 500, message: "rclone said: quota full" });
  });
});

describe("buffer pool for whole uploads", () => {
  it("hands out power-of-two capacities and reuses given-back buffers up to its limit", () => {
    const pool = new BufferPool(1024, 64);
    const a = pool.take(100);
    expect(a.byteLength).toBe(128);
    expect(pool.take(10).byteLength).toBe(64);
    pool.give(a);
    expect(pool.idleBytes).toBe(128);
    expect(pool.take(128)).toBe(a);
    expect(pool.idleBytes).toBe(0);
    pool.give(pool.take(1024));
    pool.give(pool.take(1024));
    expect(pool.idleBytes).toBe(1024);
    // Not one of its own capacities: left to the GC.
    pool.give(Buffer.alloc(100));
    expect(pool.idleBytes).toBe(1024);
  });
});

describe("memory budget and buffer pool limits", () => {
  it("reserves up to exactly its limit, and what is released can be reserved again", () => {
    const budget = new MemoryBudget(100);
    expect(budget.tryReserve(100)).toBe(true);
    expect(budget.used).toBe(100);
    expect(budget.tryReserve(1)).toBe(false);
    budget.release(60);
    expect(budget.used).toBe(40);
    expect(budget.tryReserve(60)).toBe(true);
  });

  it("keeps at most its limit idle, every buffer given back up to it, and only its own capacities", () => {
    const pool = new BufferPool(1024, 64);
    const [a, b] = [pool.take(1024), pool.take(1024)];
    pool.give(a);
    pool.give(b);
    expect(pool.idleBytes).toBe(1024);
    expect(pool.take(1024)).toBe(a);
    expect(pool.take(1024)).not.toBe(b);
    const [c, d] = [pool.take(64), pool.take(64)];
    pool.give(c);
    pool.give(d);
    expect([pool.take(64), pool.take(64)]).toEqual(expect.arrayContaining([c, d]));
    pool.give(Buffer.alloc(100));
    expect(pool.idleBytes).toBe(0);
  });

  it("starts at 128 KiB by default", () => {
    expect(new BufferPool(1 << 20).take(1).byteLength).toBe(128 * 1024);
  });
});

describe("small pieces", () => {
  it("HttpError is named so", () => {
    expect(new HttpError(400, "x").name).toBe("HttpError");
  });

  it("FILE:<path> is the store at that path", async () => {
    const path = "/tmp/borgstore-server-units/store";
    expect((await backendFromServerUrl(`FILE:${path}`)).location).toBe((await backendFromServerUrl(fileUrlFromPath(path))).location);
    expect((await backendFromServerUrl(`FILE:${path}`)).location).toContain(path);
    // Any other URL is core's, not a path.
    expect(await backendFromServerUrl("memory:")).toBeInstanceOf(MemoryBackend);
  });
});
