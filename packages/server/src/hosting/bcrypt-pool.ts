import { createRequire } from "node:module";
import { Worker } from "node:worker_threads";

/**
 * bcryptjs in worker threads: a comparison at cost 12 is half a second of CPU, which on the
 * server's only thread held up every other client's requests (28 connections sending wrong
 * passwords took a signed-in client's median latency from 1.4 ms to 783 ms). Each worker runs one
 * task at a time; the pool has `size` of them, made when first needed, so at most `size`
 * comparisons run at once and the rest wait their turn here.
 */
export class BcryptPool {
  readonly #size: number;
  readonly #idle: Slot[] = [];
  readonly #waiting: Task[] = [];
  #made = 0;
  #closed = false;

  constructor(size: number) {
    this.#size = Math.max(1, size);
  }

  compare(password: string, hash: string): Promise<boolean> {
    return this.#run("compare", password, hash) as Promise<boolean>;
  }

  hash(password: string, cost: number): Promise<string> {
    return this.#run("hash", password, cost) as Promise<string>;
  }

  /** Ends the workers; tasks waiting or running fail. */
  close(): void {
    this.#closed = true;
    for (const task of this.#waiting.splice(0)) task.reject(new Error("password checks are closed"));
    for (const slot of this.#idle.splice(0)) void slot.worker.terminate();
  }

  #run(op: Task["op"], a: string, b: string | number): Promise<unknown> {
    if (this.#closed) return Promise.reject(new Error("password checks are closed"));
    return new Promise((resolve, reject) => {
      this.#waiting.push({ op, a, b, resolve, reject });
      this.#dispatch();
    });
  }

  #dispatch(): void {
    while (this.#waiting.length > 0) {
      let slot = this.#idle.pop();
      if (!slot && this.#made < this.#size) slot = this.#spawn();
      if (!slot) return;
      const task = this.#waiting.shift() as Task;
      slot.task = task;
      slot.worker.ref();
      slot.worker.postMessage({ op: task.op, a: task.a, b: task.b });
    }
  }

  #spawn(): Slot {
    this.#made++;
    const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { bcrypt: BCRYPTJS } });
    const slot: Slot = { worker };
    worker.on("message", (answer: { result?: unknown; error?: string }) => {
      const task = slot.task;
      slot.task = undefined;
      worker.unref();
      if (this.#closed) void worker.terminate();
      else this.#idle.push(slot);
      if (answer.error !== undefined) task?.reject(new Error(answer.error));
      else task?.resolve(answer.result);
      this.#dispatch();
    });
    // A worker that dies fails its task; a new one is made for the next.
    worker.on("error", (err) => slot.task?.reject(err));
    worker.on("exit", () => {
      slot.task?.reject(new Error("password check worker exited"));
      slot.task = undefined;
      this.#made--;
      const at = this.#idle.indexOf(slot);
      if (at >= 0) this.#idle.splice(at, 1);
      if (!this.#closed) this.#dispatch();
    });
    return slot;
  }
}

interface Task {
  op: "compare" | "hash";
  a: string;
  b: string | number;
  resolve(value: unknown): void;
  reject(err: Error): void;
}

interface Slot {
  worker: Worker;
  task?: Task;
}

/** bcryptjs's CommonJS entry, resolved here so that the worker finds it from source and from dist alike. */
const BCRYPTJS = createRequire(import.meta.url).resolve("bcryptjs");

const WORKER_SOURCE = `
const { parentPort, workerData } = require("node:worker_threads");
const bcrypt = require(workerData.bcrypt);
parentPort.on("message", ({ op, a, b }) => {
  try {
    parentPort.postMessage({ result: op === "compare" ? bcrypt.compareSync(a, b) : bcrypt.hashSync(a, b) });
  } catch (err) {
    parentPort.postMessage({ error: String((err && err.message) || err) });
  }
});
`;
