import { setTimeout as sleep } from "node:timers/promises";
import { InvalidArgument } from "../errors.js";

/**
 * Makes the primary backend look slower than it is (spec §13.6): each call takes at least
 * latency + volume / bandwidth. Read from BORGSTORE_LATENCY (µs) and BORGSTORE_BANDWIDTH (bit/s).
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
