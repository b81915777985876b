import type { Backend, BackendCapabilities } from "@borgstore/core";

/** Makes a fresh backend whose location does not exist yet or is empty; the suite calls create(). */
export type BackendFactory = () => Promise<Backend> | Backend;

export interface ConformanceOptions {
  /** Shown in test titles: "posixfs", "rest over stdio", … */
  name: string;
  factory: BackendFactory;
  /** Overrides of what the backend declares in `backend.capabilities`. */
  capabilities?: Partial<BackendCapabilities>;
  /** Largest value in the size round-trip tests (default 100 MB, as the reference). */
  maxValueSize?: number;
  /** Called after each test with the backend it used (e.g. to remove temp dirs). */
  cleanup?: (backend: Backend) => Promise<void> | void;
}

/** Registers the conformance tests with vitest (describe/it). Implemented in a following change. */
export function runConformanceSuite(_options: ConformanceOptions): void {
  throw new Error("not implemented yet");
}
