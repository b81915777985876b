import { Worker } from "node:worker_threads";

/**
 * SHA-256 of a request body computed on a second thread while the body still arrives. The main
 * thread receives (the kernel's copy and Node's HTTP parser's cost it most of a core at a few
 * hundred MB/s) and hashing on the same thread took ~40 % of a large upload's server time; on
 * another core it overlaps the receiving, as the Python server cannot (it hashes after the last
 * byte). The bytes are not copied: the body lands in shared memory (a SharedArrayBuffer from the
 * BufferPool) and the thread is told which ranges are complete. One thread serves every upload,
 * in order; a server is no slower with it than hashing on its own thread was.
 */

/** Runs in the worker: one hash per job id, fed by ranges of shared memory. */
const WORKER_SOURCE = `
const { createHash } = require("node:crypto");
const { parentPort } = require("node:worker_threads");
const jobs = new Map();
parentPort.on("message", (m) => {
  if (m.op === "update") {
    let hash = jobs.get(m.id);
    if (hash === undefined) jobs.set(m.id, (hash = createHash("sha256")));
    hash.update(new Uint8Array(m.memory, m.offset, m.length));
  } else if (m.op === "digest") {
    const hash = jobs.get(m.id) ?? createHash("sha256");
    jobs.delete(m.id);
    parentPort.postMessage({ id: m.id, digest: hash.digest("hex") });
  } else jobs.delete(m.id);
});
`;

interface Pending {
  resolve(digest: string): void;
  reject(err: Error): void;
}

let worker: Worker | undefined;
let nextId = 0;
const pending = new Map<number, Pending>();
/** Jobs started and not yet digested or dropped: the thread keeps the process alive only while there are some. */
let open = 0;

function thread(): Worker {
  if (worker !== undefined) return worker;
  const started = new Worker(WORKER_SOURCE, { eval: true });
  started.on("message", ({ id, digest }: { id: number; digest: string }) => {
    const job = pending.get(id);
    pending.delete(id);
    job?.resolve(digest);
  });
  // A thread that died (it should not) fails its waiting jobs; the next job starts a new one.
  const fail = (err: Error) => {
    if (worker === started) worker = undefined;
    for (const job of pending.values()) job.reject(err);
    pending.clear();
  };
  started.on("error", fail);
  started.on("exit", (code) => fail(new Error(`the hashing thread exited (${code})`)));
  worker = started;
  return started;
}

function count(change: number): void {
  open += change;
  if (open > 0) worker?.ref();
  else worker?.unref();
}

/** One SHA-256 computed by the hashing thread over ranges of shared memory, given in order. */
export class SharedMemoryHash {
  readonly #id = nextId++;
  readonly #worker = thread();
  #done = false;

  constructor() {
    count(+1);
  }

  /**
   * Hashes `length` bytes of `bytes` from `offset` on; `bytes` must be backed by a
   * SharedArrayBuffer, and those bytes must not change until digest() or drop().
   */
  update(bytes: Uint8Array, offset: number, length: number): void {
    if (length === 0) return;
    this.#worker.postMessage({ op: "update", id: this.#id, memory: bytes.buffer, offset: bytes.byteOffset + offset, length });
  }

  /** The hex digest of all ranges given; the thread has read them all when it resolves. */
  digest(): Promise<string> {
    this.#finish();
    const digest = new Promise<string>((resolve, reject) => {
      // A thread that died meanwhile will answer no more.
      if (this.#worker !== worker) return reject(new Error("the hashing thread exited"));
      pending.set(this.#id, { resolve, reject });
      this.#worker.postMessage({ op: "digest", id: this.#id });
    });
    return digest.finally(() => count(-1));
  }

  /** Forgets the job (an upload that failed; nothing once digest() was asked); the thread may still read the ranges it was given. */
  drop(): void {
    if (this.#done) return;
    this.#done = true;
    this.#worker.postMessage({ op: "drop", id: this.#id });
    count(-1);
  }

  #finish(): void {
    if (this.#done) throw new Error("this hash is finished");
    this.#done = true;
  }
}

/** Whether `bytes` lies in memory the hashing thread can read. */
export const isShared = (bytes: Uint8Array): boolean => bytes.buffer instanceof SharedArrayBuffer;
