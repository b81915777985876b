// Breaker s12b: adversarial probes of today's fixes (cache invalidation of fills in flight,
// concurrent open(), posixfs quota close(), loadStream descriptors, sync turns).
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setImmediate as nextTurn } from "node:timers/promises";
import { BackendDoesNotExist, BackendMustNotBeOpen, CacheMode, MemoryBackend, ObjectNotFound, Store } from "@borgstore/core";
import { CacheLayer } from "@borgstore/core/backend";
import { PosixFsBackend } from "@borgstore/backend-posixfs";
import fc from "fast-check";
import { afterEach, describe, expect, it } from "vitest";

const dirs: string[] = [];
function tempBase(): string {
  const root = existsShm() ? "/dev/shm" : tmpdir();
  const dir = mkdtempSync(join(root, "breaker-s12b-"));
  dirs.push(dir);
  return join(dir, "store");
}
function existsShm(): boolean {
  try {
    return statSync("/dev/shm").isDirectory();
  } catch {
    return false;
  }
}
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** Bytes of regular files below base, the bookkeeping (quota.hid, journals, uploads) and temp files left out. */
function bytesOnDisk(dir: string, root = dir): number {
  let total = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (dir === root && (entry.name.endsWith(".hid") || entry.name.startsWith("quota") || entry.name.startsWith("."))) continue;
    if (/\.tmp$|\.tmp\./.test(entry.name) || entry.name.includes(".tmp")) continue;
    const path = join(dir, entry.name);
    if (entry.isDirectory()) total += bytesOnDisk(path, root);
    else if (entry.isFile()) total += statSync(path).size;
  }
  return total;
}

function openFds(): number {
  return readdirSync("/proc/self/fd").length;
}

async function settleFds(): Promise<void> {
  for (let i = 0; i < 5; i++) await nextTurn();
}

async function newPosixfs(options: { quota?: number; syncReads?: boolean; syncWrites?: boolean } = {}): Promise<PosixFsBackend> {
  const path = tempBase();
  const backend = new PosixFsBackend({ path, ...options });
  await backend.create();
  await backend.open();
  return backend;
}

const KEYS = ["k0", "k1", "k2", "d/k3", "d/k4"];
const SIZES = [0, 7, 5_000, 65_537, 200_000];

type Op =
  | { kind: "store"; key: string; size: number }
  | { kind: "stream"; key: string; size: number; fail: boolean }
  | { kind: "delete"; key: string }
  | { kind: "move"; from: string; to: string }
  | { kind: "persist" };

const keyArb = fc.constantFrom(...KEYS);
const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ kind: fc.constant("store" as const), key: keyArb, size: fc.constantFrom(...SIZES) }),
  fc.record({ kind: fc.constant("stream" as const), key: keyArb, size: fc.constantFrom(...SIZES), fail: fc.boolean() }),
  fc.record({ kind: fc.constant("delete" as const), key: keyArb }),
  fc.record({ kind: fc.constant("move" as const), from: keyArb, to: keyArb }),
  fc.record({ kind: fc.constant("move" as const), from: fc.constantFrom("d", "e"), to: fc.constantFrom("d", "e") }),
  fc.constant({ kind: "persist" as const }),
);

async function* chunks(size: number, fail: boolean): AsyncIterable<Uint8Array> {
  let left = size;
  while (left > 0) {
    const n = Math.min(left, 16_384);
    left -= n;
    await nextTurn();
    yield new Uint8Array(n).fill(3);
    if (fail && left < size / 2) throw new Error("source broke");
  }
}

function runOp(backend: PosixFsBackend, op: Op): Promise<unknown> {
  switch (op.kind) {
    case "store":
      return backend.store(op.key, new Uint8Array(op.size).fill(1));
    case "stream":
      return backend.storeStream(op.key, chunks(op.size, op.fail), { size: op.size });
    case "delete":
      return backend.delete(op.key);
    case "move":
      return backend.move(op.from, op.to);
    case "persist":
      return backend.persistQuota();
  }
}

describe("posixfs quota: random concurrent changes, close() racing them, reopen", () => {
  it("quota.hid equals the bytes on disk after stores, streams (some failing), deletes, moves, persists and a racing close()", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(opArb, { minLength: 1, maxLength: 14 }), fc.nat({ max: 14 }), fc.boolean(), async (ops, closeAt, syncWrites) => {
        const path = tempBase();
        const backend = new PosixFsBackend({ path, quota: 10_000_000, syncWrites });
        await backend.create();
        await backend.open();
        const running: Promise<unknown>[] = [];
        let closing: Promise<void> | undefined;
        ops.forEach((op, i) => {
          if (i === closeAt) closing = backend.close();
          running.push(runOp(backend, op).catch(() => undefined));
        });
        closing ??= backend.close();
        await closing;
        await Promise.all(running);
        const hid = Number(readFileSync(join(path, "quota.hid"), "latin1").trim());
        expect(hid).toBe(bytesOnDisk(path));
        const again = new PosixFsBackend({ path, quota: 10_000_000 });
        await again.open();
        expect((await again.quota()).usage).toBe(bytesOnDisk(path));
        await again.close();
      }),
      { seed: 12_0212, numRuns: 60 },
    );
  });

  it("two sessions with a quota on one directory, changing disjoint names at once: quota.hid equals the bytes on disk after both close", async () => {
    const ofSession = (keys: string[]) =>
      fc.oneof(
        fc.record({ kind: fc.constant("store" as const), key: fc.constantFrom(...keys), size: fc.constantFrom(...SIZES) }),
        fc.record({ kind: fc.constant("delete" as const), key: fc.constantFrom(...keys) }),
        fc.record({ kind: fc.constant("move" as const), from: fc.constantFrom(...keys), to: fc.constantFrom(...keys) }),
        fc.constant({ kind: "persist" as const }),
      ) as fc.Arbitrary<Op>;
    await fc.assert(
      fc.asyncProperty(fc.array(ofSession(["k0", "k1", "k2"]), { maxLength: 8 }), fc.array(ofSession(["d/k3", "d/k4"]), { maxLength: 8 }), async (opsA, opsB) => {
        const path = tempBase();
        const a = new PosixFsBackend({ path, quota: 10_000_000 });
        await a.create();
        await a.open();
        const b = new PosixFsBackend({ path, quota: 10_000_000, syncWrites: false });
        await b.open();
        await Promise.all([...opsA.map((op) => runOp(a, op).catch(() => undefined)), ...opsB.map((op) => runOp(b, op).catch(() => undefined))]);
        await Promise.all([a.close(), b.close()]);
        const hid = Number(readFileSync(join(path, "quota.hid"), "latin1").trim());
        expect(hid).toBe(bytesOnDisk(path));
      }),
      { seed: 12_0213, numRuns: 25 },
    );
  });

  // FINDING: LOW: two sessions (two processes, or a server and a CLI) storing the same new name at
  // once both see no old file and both charge its full size: quota.hid counts it twice for good
  // (turns per name are only taken within one session; the reference has the same race).
  it.fails("two sessions storing the same new names at once: quota.hid equals the bytes on disk", async () => {
    const path = tempBase();
    const a = new PosixFsBackend({ path, quota: 10_000_000 });
    await a.create();
    await a.open();
    const b = new PosixFsBackend({ path, quota: 10_000_000 });
    await b.open();
    const names = ["n0", "n1", "n2", "n3", "n4"];
    await Promise.all(names.flatMap((n) => [a.store(n, new Uint8Array(100)), b.store(n, new Uint8Array(100))]));
    await Promise.all([a.close(), b.close()]);
    expect(Number(readFileSync(join(path, "quota.hid"), "latin1"))).toBe(bytesOnDisk(path));
  });

  it("close() called twice at once while a change is charging: both settle", async () => {
    const backend = await newPosixfs({ quota: 10_000_000 });
    const store = backend.store("k0", new Uint8Array(300_000)).catch(() => undefined);
    const first = backend.close();
    const second = backend.close().then(
      () => "closed",
      (err: unknown) => (err as Error).name,
    );
    const settled = await Promise.race([Promise.all([first, second, store]).then(() => "settled"), new Promise((r) => setTimeout(() => r("hung"), 3000))]);
    expect(settled).toBe("settled");
  });
});

describe("posixfs loadStream: descriptors when given up at every stage", () => {
  const stages = ["never-iterated", "return-before-next", "after-first-chunk", "to-the-end", "break-in-for-await", "aborted-signal-after-open"] as const;
  for (const syncReads of [true, false]) {
    it(`no descriptor stays open (syncReads ${syncReads})`, async () => {
      const backend = await newPosixfs({ syncReads });
      await backend.store("big", new Uint8Array(1_000_000).fill(9));
      await settleFds();
      const before = openFds();
      for (const stage of stages) {
        for (let i = 0; i < 20; i++) {
          const controller = new AbortController();
          const source = await backend.loadStream("big", { signal: controller.signal, offset: i * 10 });
          const it = source[Symbol.asyncIterator]();
          if (stage === "return-before-next") await it.return?.();
          else if (stage === "after-first-chunk") {
            await it.next();
            await it.return?.();
          } else if (stage === "to-the-end") {
            let total = 0;
            for (let step = await it.next(); !step.done; step = await it.next()) total += step.value.byteLength;
            expect(total).toBe(1_000_000 - i * 10);
          } else if (stage === "break-in-for-await") {
            for await (const chunk of source) {
              expect(chunk[0]).toBe(9);
              break;
            }
          } else if (stage === "aborted-signal-after-open") {
            controller.abort();
            await it.next().catch(() => undefined);
            await it.return?.();
          } else {
            // never-iterated: the caller drops it after return() (the contract for giving up)
            await it.return?.();
          }
        }
        await settleFds();
        // 20 given-up sources per stage: a leak shows as 20; a stray descriptor of the runner as 1.
        expect({ stage, leaked: openFds() - before >= 10 }).toEqual({ stage, leaked: false });
      }
      await backend.close();
    });
  }

  it("concurrent next() calls then return(): the descriptor closes", async () => {
    const backend = await newPosixfs();
    await backend.store("big", new Uint8Array(1_000_000).fill(9));
    await settleFds();
    const before = openFds();
    for (let i = 0; i < 10; i++) {
      const source = await backend.loadStream("big");
      const it = source[Symbol.asyncIterator]();
      const a = it.next();
      const b = it.next();
      await it.return?.();
      await Promise.allSettled([a, b]);
    }
    await settleFds();
    expect(openFds() - before).toBeLessThan(5);
    await backend.close();
  });

  for (const when of ["before-first-chunk", "mid-stream"] as const) {
    it(`a signal aborting while a next() is pending (${when}), the source then dropped: the descriptor closes`, async () => {
      const backend = await newPosixfs();
      await backend.store("big", new Uint8Array(4_000_000).fill(9));
      await settleFds();
      const before = openFds();
      for (let i = 0; i < 20; i++) {
        const controller = new AbortController();
        const source = await backend.loadStream("big", { signal: controller.signal });
        const error = await (async () => {
          let seen = 0;
          if (when === "before-first-chunk") queueMicrotask(() => controller.abort());
          // for await does not call return() when next() rejects: the source must close itself.
          for await (const chunk of source) {
            seen += chunk.byteLength;
            if (seen > 100_000) queueMicrotask(() => controller.abort());
          }
        })().then(
          () => undefined,
          (err: unknown) => err,
        );
        expect(error).toBeDefined();
      }
      await settleFds();
      for (let i = 0; i < 20 && openFds() - before >= 10; i++) await new Promise((r) => setTimeout(r, 10));
      expect(openFds() - before).toBeLessThan(10);
      await backend.close();
    });
  }

  it("through a Store (counting and emulation layers), a source given up before or after its first chunk closes its file", async () => {
    const store = new Store({ backend: new PosixFsBackend({ path: tempBase() }), config: { "data/": { levels: [0] } }, latency: 1, bandwidth: 1e12 });
    await store.create();
    await store.open();
    await store.store("data/big", new Uint8Array(1_000_000).fill(9));
    await settleFds();
    const before = openFds();
    for (let i = 0; i < 20; i++) {
      const source = await store.loadStream("data/big", { signal: new AbortController().signal });
      const it = source[Symbol.asyncIterator]();
      if (i % 2) await it.next();
      await it.return?.();
    }
    await settleFds();
    expect(openFds() - before).toBeLessThan(10);
    await store.close();
  });

  it("a range past the end, a directory and a missing name: no descriptor stays open", async () => {
    const backend = await newPosixfs();
    await backend.store("big", new Uint8Array(1_000).fill(9));
    await backend.store("dir/x", new Uint8Array(1));
    await settleFds();
    const before = openFds();
    for (let i = 0; i < 20; i++) {
      const empty = await backend.loadStream("big", { offset: 1_000 });
      for await (const _ of empty) expect.unreachable();
      await backend.loadStream("dir").catch(() => undefined);
      await backend.loadStream("nope").catch(() => undefined);
      const aborted = AbortSignal.abort();
      await backend.loadStream("big", { signal: aborted }).then((s) => s[Symbol.asyncIterator]().return?.(), () => undefined);
    }
    await settleFds();
    expect(openFds() - before).toBeLessThan(10);
    await backend.close();
  });
});

describe("Backend.open(): concurrent opens, close() racing open(), a failed open retried", () => {
  it("two opens at once: one opens, the other fails BackendMustNotBeOpen; close and reopen work", async () => {
    const path = tempBase();
    const backend = new PosixFsBackend({ path, quota: 1_000_000 });
    await backend.create();
    const results = await Promise.allSettled([backend.open(), backend.open(), backend.open()]);
    expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(1);
    for (const r of results) if (r.status === "rejected") expect(r.reason).toBeInstanceOf(BackendMustNotBeOpen);
    await backend.store("a", new Uint8Array(10));
    await backend.close();
    // Only one session journal was started (the other opens never ran _open): none left behind.
    expect(readdirSync(path).filter((n) => n.startsWith("quota") && n !== "quota.hid")).toEqual([]);
    await backend.open();
    expect((await backend.quota()).usage).toBe(10);
    await backend.close();
  });

  it("an open failing midway (quota.hid unreadable) is retried at once by two openers: one opens, counting right", async () => {
    const path = tempBase();
    const first = new PosixFsBackend({ path, quota: 1_000_000 });
    await first.create();
    await first.open();
    await first.store("a", new Uint8Array(123));
    await first.close();
    rmSync(join(path, "quota.hid"));
    mkdirSync(join(path, "quota.hid"));
    const backend = new PosixFsBackend({ path, quota: 1_000_000 });
    await expect(backend.open()).rejects.toThrow();
    rmSync(join(path, "quota.hid"), { recursive: true });
    const results = await Promise.allSettled([backend.open(), backend.open()]);
    expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(1);
    expect((await backend.quota()).usage).toBe(123);
    await backend.store("b", new Uint8Array(7));
    await backend.close();
    expect(Number(readFileSync(join(path, "quota.hid"), "latin1"))).toBe(130);
  });

  it("opens of a store not created yet both fail, and a retry after create opens it", async () => {
    const path = tempBase();
    const backend = new PosixFsBackend({ path });
    const results = await Promise.allSettled([backend.open(), backend.open()]);
    for (const r of results) expect(r.status === "rejected" && r.reason instanceof BackendDoesNotExist).toBe(true);
    await backend.create();
    await backend.open();
    expect(backend.opened).toBe(true);
    await backend.close();
  });

  // FINDING: LOW: close() called while open() is under way fails BackendMustBeOpen, and the open
  // then completes: the caller that asked to close is left with an open backend (and its quota session).
  // fixed: close() waits for an open under way, then closes what it opened (core Backend.close).
  it("close() racing an open() under way closes the backend (or waits for it)", async () => {
    const path = tempBase();
    const backend = new PosixFsBackend({ path, quota: 1_000_000 });
    await backend.create();
    const opening = backend.open();
    await backend.close().catch(() => undefined);
    await opening;
    expect(backend.opened).toBe(false);
  });

  it("open() right after close() (a store and the quota persist still under way): the reopened backend stores, streams and counts right", async () => {
    const path = tempBase();
    await new PosixFsBackend({ path }).create();
    for (let round = 0; round < 6; round++) {
      const backend = new PosixFsBackend({ path, quota: 10_000_000, syncWrites: round % 2 === 0 });
      await backend.open();
      await backend.store(`a${round}`, new Uint8Array(1_000));
      const inFlight = backend.store(`d${round}`, new Uint8Array(300_000)).then(
        () => "stored",
        () => "refused",
      );
      const closing = backend.close();
      const opening = backend.open();
      const results = await Promise.allSettled([closing, opening]);
      await inFlight;
      expect(results.map((r) => r.status)).toEqual(["fulfilled", "fulfilled"]);
      expect(backend.opened).toBe(true);
      await backend.store(`b${round}`, new Uint8Array(100_000));
      await backend.storeStream(`c${round}`, chunks(70_000, false), { size: 70_000 });
      expect((await backend.quota()).usage).toBe(bytesOnDisk(path));
      await backend.close();
      expect(Number(readFileSync(join(path, "quota.hid"), "latin1"))).toBe(bytesOnDisk(path));
      expect(readdirSync(path).filter((n) => n.startsWith("quota-session"))).toEqual([]);
    }
  });

  it("open/close cycles racing with a second opener on a cache layer never double-open the cache", async () => {
    const primary = new PosixFsBackend({ path: tempBase() });
    const cache = new MemoryBackend();
    const layer = new CacheLayer(primary, { cache, logger: { warn: () => undefined } });
    await layer.create();
    for (let i = 0; i < 5; i++) {
      const results = await Promise.allSettled([layer.open(), layer.open()]);
      expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(1);
      expect(layer.stats.disabled).toBe(false);
      await layer.close();
    }
  });
});

describe("cache layer over posixfs: no stale copy after an acknowledged change", () => {
  type CacheOp =
    | { kind: "load"; key: string }
    | { kind: "store"; key: string; v: number }
    | { kind: "delete"; key: string }
    | { kind: "move"; from: string; to: string }
    | { kind: "behind"; key: string; v: number } // primary changed behind the layer, then invalidated
    | { kind: "invalidateAll" }
    | { kind: "invalidateNs" }
    | { kind: "defrag"; key: string };
  const ck = fc.constantFrom("data/a", "data/b", "data/c");
  const cacheOp: fc.Arbitrary<CacheOp> = fc.oneof(
    { weight: 3, arbitrary: fc.record({ kind: fc.constant("load" as const), key: ck }) },
    fc.record({ kind: fc.constant("store" as const), key: ck, v: fc.integer({ min: 1, max: 200 }) }),
    fc.record({ kind: fc.constant("delete" as const), key: ck }),
    fc.record({ kind: fc.constant("move" as const), from: ck, to: ck }),
    fc.record({ kind: fc.constant("behind" as const), key: ck, v: fc.integer({ min: 1, max: 200 }) }),
    fc.constant({ kind: "invalidateAll" as const }),
    fc.constant({ kind: "invalidateNs" as const }),
    fc.record({ kind: fc.constant("defrag" as const), key: ck }),
  );

  it("after every operation settles, each cached load equals the primary", async () => {
    await fc.assert(
      fc.asyncProperty(fc.scheduler(), fc.array(cacheOp, { minLength: 1, maxLength: 10 }), fc.constantFrom(CacheMode.WRITETHROUGH, CacheMode.MIRROR), async (s, ops, mode) => {
        const primary = new PosixFsBackend({ path: tempBase() });
        const cache = new PosixFsBackend({ path: tempBase() });
        const layer = new CacheLayer(primary, { cache, policies: [{ namespace: "data/", cache: mode }], logger: { warn: () => undefined } });
        await layer.create();
        await layer.open();
        await primary.store("data/src", new Uint8Array([7, 7, 7, 7]));
        const done = ops.map((op) =>
          s.schedule(Promise.resolve(op.kind)).then(async () => {
            try {
              switch (op.kind) {
                case "load":
                  await layer.load(op.key);
                  break;
                case "store":
                  await layer.store(op.key, new Uint8Array([op.v]));
                  break;
                case "delete":
                  await layer.delete(op.key);
                  break;
                case "move":
                  await layer.move(op.from, op.to);
                  break;
                case "behind":
                  await primary.store(op.key, new Uint8Array([op.v, op.v]));
                  await layer.invalidate({ key: op.key });
                  break;
                case "invalidateAll":
                  await layer.invalidate({ directory: "" });
                  break;
                case "invalidateNs":
                  await layer.invalidate({ directory: "data" });
                  break;
                case "defrag":
                  await layer.defrag([["data/src", 1, 2]], { target: op.key });
                  break;
              }
            } catch (err) {
              if (!(err instanceof ObjectNotFound)) throw err;
            }
          }),
        );
        await s.waitFor(Promise.all(done));
        for (const key of ["data/a", "data/b", "data/c"]) {
          const fromPrimary = await primary.load(key).then(Array.from, () => "missing");
          const fromLayer = await layer.load(key).then(Array.from, () => "missing");
          expect(fromLayer).toEqual(fromPrimary);
        }
        expect(layer.stats.disabled).toBe(false);
        await layer.close();
      }),
      { seed: 12_0214, numRuns: 80 },
    );
  });
});

/** A primary whose loads, once read, wait for `gate` before they return. */
class GatedPosixFs extends PosixFsBackend {
  gate: Promise<void> | undefined;
  protected override async _load(name: string, options: Parameters<PosixFsBackend["_load"]>[1]): Promise<Uint8Array> {
    const value = await super._load(name, options);
    if (this.gate) await this.gate;
    return value;
  }
}

describe("cache layer: invalidation and fills across close/reopen", () => {
  // FINDING: LOW: invalidate() while the layer (its cache) is closed returns at once without marking
  // the loads still under way stale: a load that read the primary before a change made behind the
  // layer's back copies its old value into the cache once the layer is reopened, after the
  // acknowledged invalidation, and later loads serve it.
  // fixed: invalidate() opens a closed cache for the time and marks the loads under way.
  it("a value changed behind the layer, invalidated while closed, is not served stale after reopen", async () => {
    const primary = new GatedPosixFs({ path: tempBase() });
    const cache = new PosixFsBackend({ path: tempBase() });
    const layer = new CacheLayer(primary, { cache, logger: { warn: () => undefined } });
    await layer.create();
    await layer.open();
    await primary.store("data/a", new Uint8Array([1]));
    let release!: () => void;
    primary.gate = new Promise((resolve) => (release = resolve));
    const loading = layer.load("data/a");
    await new Promise((resolve) => setTimeout(resolve, 20));
    primary.gate = undefined;
    await primary.store("data/a", new Uint8Array([2]));
    await layer.close();
    await layer.invalidate({ key: "data/a" });
    await layer.open();
    release();
    await loading;
    expect(Array.from(await layer.load("data/a"))).toEqual([2]);
    await layer.close();
  });

  it("a value changed behind the layer, invalidated while open, is not served stale (load's primary read held across it)", async () => {
    const primary = new GatedPosixFs({ path: tempBase() });
    const cache = new PosixFsBackend({ path: tempBase() });
    const layer = new CacheLayer(primary, { cache, policies: [{ namespace: "data/", cache: CacheMode.WRITETHROUGH }], logger: { warn: () => undefined } });
    await layer.create();
    await layer.open();
    await primary.store("data/a", new Uint8Array([1]));
    for (const target of [{ key: "data/a" }, { directory: "data" }, { directory: "" }]) {
      await layer.invalidate({ directory: "" });
      let release!: () => void;
      primary.gate = new Promise((resolve) => (release = resolve));
      const loading = layer.load("data/a");
      await new Promise((resolve) => setTimeout(resolve, 20));
      primary.gate = undefined;
      const next = (await primary.load("data/a"))[0] as number;
      await primary.store("data/a", new Uint8Array([next + 1]));
      await layer.invalidate(target);
      release();
      await loading;
      expect(Array.from(await layer.load("data/a"))).toEqual([next + 1]);
    }
    await layer.close();
  });
});

describe("cache layer: a full cache (posixfs with a small quota) is bypassed, not switched off", () => {
  it("stores, loads, moves and invalidations past the cache's quota serve the primary's values and keep the cache on", async () => {
    const primary = new PosixFsBackend({ path: tempBase() });
    const cache = new PosixFsBackend({ path: tempBase(), quota: 2_500 });
    const warnings: string[] = [];
    const layer = new CacheLayer(primary, { cache, logger: { warn: (m) => warnings.push(m) } });
    await layer.create();
    await layer.open();
    await fc.assert(
      fc.asyncProperty(fc.array(fc.tuple(fc.constantFrom("s", "l", "m", "d", "i"), fc.constantFrom("a", "b", "c"), fc.constantFrom(10, 900, 1_400)), { maxLength: 12 }), async (ops) => {
        await Promise.all(
          ops.map(async ([kind, k, size]) => {
            try {
              if (kind === "s") await layer.store(k, new Uint8Array(size).fill(size % 251));
              else if (kind === "l") await layer.load(k);
              else if (kind === "m") await layer.move(k, k === "a" ? "b" : "a");
              else if (kind === "d") await layer.delete(k);
              else await layer.invalidate({ directory: "" });
            } catch (err) {
              if (!(err instanceof ObjectNotFound)) throw err;
            }
          }),
        );
        for (const k of ["a", "b", "c"]) {
          const fromPrimary = await primary.load(k).then(Array.from, () => "missing");
          expect(await layer.load(k).then(Array.from, () => "missing")).toEqual(fromPrimary);
        }
      }),
      { seed: 12_0216, numRuns: 30 },
    );
    await Promise.all(["a", "b", "c"].map((k) => layer.store(k, new Uint8Array(1_400).fill(4))));
    await layer.invalidate({ directory: "" });
    for (const k of ["a", "b", "c"]) expect((await layer.load(k))[0]).toBe(4);
    expect(warnings.some((w) => w.includes("QUOTA_EXCEEDED"))).toBe(true); // the cache's quota was hit
    expect(layer.stats.disabled).toBe(false);
    await layer.close();
  });
});

describe("Store over posixfs with a cache tier: defrag, stores, deletes and invalidations interleaved", () => {
  type StoreOp =
    | { kind: "load"; key: string }
    | { kind: "store"; key: string; v: number }
    | { kind: "delete"; key: string }
    | { kind: "defrag"; key: string; offset: number }
    | { kind: "defragDigest" }
    | { kind: "invalidate"; what: string };
  const key = fc.constantFrom("aa01", "aa02", "bb03");
  const storeOp: fc.Arbitrary<StoreOp> = fc.oneof(
    { weight: 3, arbitrary: fc.record({ kind: fc.constant("load" as const), key }) },
    fc.record({ kind: fc.constant("store" as const), key, v: fc.integer({ min: 1, max: 250 }) }),
    fc.record({ kind: fc.constant("delete" as const), key }),
    fc.record({ kind: fc.constant("defrag" as const), key, offset: fc.integer({ min: 0, max: 2 }) }),
    fc.constant({ kind: "defragDigest" as const }),
    fc.record({ kind: fc.constant("invalidate" as const), what: fc.constantFrom("", "data/", "data/aa01") }),
  );

  it("each key loads as the primary holds it once all settled, and the cache stays on", async () => {
    const succeeded = new Map<string, number>();
    await fc.assert(
      fc.asyncProperty(fc.scheduler(), fc.array(storeOp, { minLength: 1, maxLength: 10 }), async (s, ops) => {
        const primary = new PosixFsBackend({ path: tempBase() });
        const store = new Store({
          backend: primary,
          cacheBackend: new PosixFsBackend({ path: tempBase() }),
          config: { "data/": { levels: [1], cache: CacheMode.WRITETHROUGH } },
          logger: { warn: () => undefined },
        });
        await store.create();
        await store.open();
        await store.store("data/src0", new Uint8Array([5, 6, 7, 8]));
        const done = ops.map((op) =>
          s.schedule(Promise.resolve(op.kind)).then(async () => {
            try {
              if (op.kind === "load") await store.load(`data/${op.key}`);
              else if (op.kind === "store") await store.store(`data/${op.key}`, new Uint8Array([op.v]));
              else if (op.kind === "delete") await store.delete(`data/${op.key}`);
              else if (op.kind === "defrag") await store.defrag([["src0", op.offset, 2]], { namespace: "data", target: op.key });
              else if (op.kind === "defragDigest") await store.defrag([["src0", 0, 3]], { namespace: "data", algorithm: "sha256" });
              else await store.cacheInvalidate(op.what);
              succeeded.set(op.kind, (succeeded.get(op.kind) ?? 0) + 1);
            } catch (err) {
              if (!(err instanceof ObjectNotFound)) throw err;
            }
          }),
        );
        await s.waitFor(Promise.all(done));
        for (const k of ["aa01", "aa02", "bb03"]) {
          const nested = `data/${k.slice(0, 2)}/${k}`;
          const fromPrimary = await primary.load(nested).then(Array.from, () => "missing");
          const fromStore = await store.load(`data/${k}`).then(Array.from, () => "missing");
          expect(fromStore).toEqual(fromPrimary);
        }
        expect(store.stats.cache_disabled).toBe(false);
        await store.close();
      }),
      { seed: 12_0215, numRuns: 40 },
    );
    // The property exercised every kind of change, not only failures.
    expect([...succeeded.keys()].sort()).toEqual(["defrag", "defragDigest", "delete", "invalidate", "load", "store"]);
  });
});

describe("cache layer: a failing change in the primary releases the name's turn", () => {
  it("a defrag that fails (missing source, range past the end) and a throwing changeInPrimary leave later stores and loads of the target working", async () => {
    const primary = new PosixFsBackend({ path: tempBase() });
    const store = new Store({
      backend: primary,
      cacheBackend: new PosixFsBackend({ path: tempBase() }),
      config: { "data/": { levels: [0], cache: CacheMode.WRITETHROUGH } },
      logger: { warn: () => undefined },
    });
    await store.create();
    await store.open();
    await store.store("data/src", new Uint8Array([1, 2, 3]));
    await store.store("data/t", new Uint8Array([9]));
    expect(Array.from(await store.load("data/t"))).toEqual([9]);
    await expect(store.defrag([["nope", 0, 1]], { namespace: "data", target: "t" })).rejects.toThrow();
    await expect(store.defrag([["src", 2, 5]], { namespace: "data", target: "t" })).rejects.toThrow();
    const layer = new CacheLayer(new PosixFsBackend({ path: tempBase() }), { cache: new MemoryBackend(), logger: { warn: () => undefined } });
    await layer.create();
    await layer.open();
    await expect(layer.changeInPrimary("x", async () => Promise.reject(new Error("write failed")))).rejects.toThrow("write failed");
    const settled = await Promise.race([
      Promise.all([store.store("data/t", new Uint8Array([8])), layer.store("x", new Uint8Array([1]))]).then(() => "settled"),
      new Promise((resolve) => setTimeout(() => resolve("hung"), 3_000)),
    ]);
    expect(settled).toBe("settled");
    expect(Array.from(await store.load("data/t"))).toEqual([8]);
    expect(Array.from(await layer.load("x"))).toEqual([1]);
    await store.close();
    await layer.close();
  });
});

describe("sync turns: a loop of synchronous calls lets timers run", () => {
  it("a timer fires while 2,000 small loads run back to back", async () => {
    const backend = await newPosixfs();
    await backend.store("x", new Uint8Array(10));
    let fired = false;
    const timer = setTimeout(() => (fired = true), 0);
    let firedAt = -1;
    for (let i = 0; i < 2_000; i++) {
      await backend.load("x");
      if (fired && firedAt < 0) firedAt = i;
    }
    clearTimeout(timer);
    expect(fired).toBe(true);
    expect(firedAt).toBeLessThanOrEqual(600);
    await backend.close();
  });

  it("a delete sent to the thread pool (others in flight) completes while a caller loops over synchronous loads and stores", async () => {
    const backend = await newPosixfs();
    await backend.store("x", new Uint8Array(10));
    await backend.store("gone1", new Uint8Array(10));
    await backend.store("gone2", new Uint8Array(10));
    let deleted = -1;
    let i = 0;
    const deletes = Promise.all([backend.delete("gone1"), backend.delete("gone2")]).then(() => (deleted = i));
    for (; i < 3_000; i++) {
      if (i % 2) await backend.load("x");
      else await backend.store("x", new Uint8Array(10));
    }
    await deletes;
    expect(deleted).toBeGreaterThanOrEqual(0);
    expect(deleted).toBeLessThan(3_000);
    await expect(backend.load("gone2")).rejects.toBeInstanceOf(ObjectNotFound);
    await backend.close();
  });
});
