import { setTimeout as sleep } from "node:timers/promises";
import type { Backend } from "../backend.js";
import { tappedSource } from "../byte-source.js";
import { InvalidArgument } from "../errors.js";
import type { BufferLoadOptions, ByteSource, ItemInfo, LoadOptions, OperationOptions, SizedByteSource, StoreStreamOptions } from "../types.js";
import { BackendLayer } from "./backend-layer.js";

/**
 * How much slower than it is a backend should look (core README: Options, latency and bandwidth): each call takes at least
 * latency + volume / bandwidth. Read from BORGSTORE_LATENCY (µs) and BORGSTORE_BANDWIDTH (bit/s).
 * An EmulationLayer applies it.
 */
export class Emulation {
  /** Seconds added per primary call. */
  readonly latency: number;
  /** Bytes per second, 0 = unlimited. */
  readonly bandwidth: number;

  constructor(latencyMicroseconds = 0, bandwidthBitsPerSecond = 0) {
    for (const [name, value] of [
      ["BORGSTORE_LATENCY", latencyMicroseconds],
      ["BORGSTORE_BANDWIDTH", bandwidthBitsPerSecond],
    ] as const)
      if (!Number.isFinite(value) || value < 0) throw new InvalidArgument(`${name} must be a number >= 0, but got: ${value}`);
    this.latency = latencyMicroseconds / 1e6;
    this.bandwidth = bandwidthBitsPerSecond / 8;
  }

  /** Emulation configured from BORGSTORE_LATENCY (µs per call) and BORGSTORE_BANDWIDTH (bit/s); 0 or unset disables each. */
  static fromEnv(env: NodeJS.ProcessEnv = process.env): Emulation {
    return new Emulation(Number(env.BORGSTORE_LATENCY || 0), Number(env.BORGSTORE_BANDWIDTH || 0));
  }

  /** True when a latency or bandwidth is emulated. */
  get active(): boolean {
    return this.latency > 0 || this.bandwidth > 0;
  }

  /** Waits until a call that started at `startMs` (performance.now()) and moved `volume` bytes has taken its emulated time. */
  async pace(startMs: number, volume: number): Promise<void> {
    if (!this.active) return;
    const target = this.latency + (this.bandwidth > 0 ? volume / this.bandwidth : 0);
    await sleepUntil(startMs + target * 1000);
  }

  /** The once-per-directory latency of a list. */
  async listPause(): Promise<void> {
    if (this.latency > 0) await sleepUntil(performance.now() + this.latency * 1000);
  }
}

/** Timers may fire up to a millisecond early (the event loop's cached clock): wait again until really due. */
async function sleepUntil(deadlineMs: number): Promise<void> {
  for (let remaining = deadlineMs - performance.now(); remaining > 0; remaining = deadlineMs - performance.now())
    await sleep(Math.max(1, remaining));
}

/** Emulated latency and bandwidth of an EmulationLayer. */
export interface EmulationOptions {
  /** Microseconds added to every data call, as BORGSTORE_LATENCY. Default 0. */
  latency?: number;
  /** Bits per second, as BORGSTORE_BANDWIDTH; 0 = unlimited. Default 0. */
  bandwidth?: number;
}

/**
 * Makes the backend it wraps look slower (core README: Options, latency and bandwidth): each info, load, loadStream, store,
 * storeStream, delete, move and hash takes at least latency + bytes moved / bandwidth (a
 * loadStream the latency only: its volume is not known up front), and each list waits the
 * latency once before its first entry. Lifecycle, mkdir, rmdir and quota run at full speed.
 */
export class EmulationLayer extends BackendLayer {
  /** The latency and bandwidth emulated. */
  readonly emulation: Emulation;

  constructor(inner: Backend, options: EmulationOptions | Emulation = {}) {
    super(inner);
    this.emulation = options instanceof Emulation ? options : new Emulation(options.latency ?? 0, options.bandwidth ?? 0);
  }

  /** One call, stretched to the emulated latency + the volume it moved / bandwidth. */
  async #paced<T>(call: () => Promise<T>, volumeOf: (result: T) => number = () => 0): Promise<T> {
    const start = performance.now();
    const result = await call();
    await this.emulation.pace(start, volumeOf(result));
    return result;
  }

  protected override _info(name: string, options?: OperationOptions): Promise<ItemInfo> {
    return this.#paced(() => this.innerCalls.info(name, options));
  }

  protected override _load(name: string, options: BufferLoadOptions): Promise<Uint8Array> {
    return this.#paced(
      () => this.innerCalls.load(name, options),
      (data) => data.byteLength,
    );
  }

  protected override _loadStream(name: string, options: LoadOptions): Promise<SizedByteSource> {
    return this.#paced(() => this.inner.loadStream(name, options)); // sized by it (see CountingLayer)
  }

  protected override _store(name: string, value: Uint8Array, options?: OperationOptions): Promise<void> {
    return this.#paced(
      () => this.innerCalls.store(name, value, options),
      () => value.byteLength,
    );
  }

  protected override async _storeStream(name: string, source: ByteSource, options?: StoreStreamOptions): Promise<void> {
    let volume = 0;
    const tapped = tappedSource(source, (chunk) => {
      volume += chunk.byteLength;
    });
    await this.#paced(
      () => this.innerCalls.storeStream(name, tapped, options),
      () => volume,
    );
  }

  protected override _delete(name: string, options?: OperationOptions): Promise<void> {
    return this.#paced(() => this.innerCalls.delete(name, options));
  }

  protected override _move(currentName: string, newName: string, options?: OperationOptions): Promise<void> {
    return this.#paced(() => this.innerCalls.move(currentName, newName, options));
  }

  protected override _hash(name: string, algorithm: string, options?: OperationOptions): Promise<string> {
    return this.#paced(() => super._hash(name, algorithm, options));
  }

  protected override async *_list(name: string, options?: OperationOptions): AsyncIterable<ItemInfo> {
    await this.emulation.listPause();
    yield* this.innerCalls.list(name, options);
  }
}
