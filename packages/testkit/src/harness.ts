import type { Backend, BackendCapabilities } from "@borgstore/core";
import { type TestContext, describe, it } from "vitest";
import type { ResolvedOptions } from "./options.js";

/** How far a test's backend is prepared before the test body runs. */
export type Stage = "fresh" | "created" | "open";

/** What a test body gets: its own backend, the capabilities in force, and a way to skip with a reason. */
export interface Subject {
  backend: Backend;
  /** The backend's declared capabilities with the suite's overrides applied. */
  caps: BackendCapabilities;
  /** Ends the test as skipped, e.g. when a capability is missing. */
  skip(reason: string): never;
}

export interface TestSettings {
  stage?: Stage;
  timeout?: number;
  /** Another factory for this test's backend (the quota tests use the quota factory). */
  factory?: () => Promise<Backend> | Backend;
}

/**
 * Registers topics and tests with vitest. Each test gets a fresh backend from the factory, prepared
 * to its stage, and torn down after it (close, destroy, cleanup) even when it fails.
 */
export class Suite {
  readonly options: ResolvedOptions;
  #topic = "";

  constructor(options: ResolvedOptions) {
    this.options = options;
  }

  topic(name: string, register: () => void): void {
    describe(name, () => {
      const outer = this.#topic;
      this.#topic = name;
      try {
        register();
      } finally {
        this.#topic = outer;
      }
    });
  }

  test(title: string, body: (subject: Subject) => Promise<void>, settings: TestSettings = {}): void {
    const fullTitle = `${this.#topic} › ${title}`;
    const skipKey = Object.keys(this.options.skip).find((k) => fullTitle.includes(k));
    if (skipKey !== undefined) {
      it.skip(`${title} (skipped: ${this.options.skip[skipKey]})`, () => {});
      return;
    }
    const timeout = settings.timeout ?? this.options.timeout;
    const failureKey = Object.keys(this.options.knownFailures).find((k) => fullTitle.includes(k));
    if (failureKey !== undefined) {
      it.fails(`${title} (fails here, known: ${this.options.knownFailures[failureKey]})`, { timeout }, (context) =>
        this.#run(context, body, settings),
      );
      return;
    }
    it(title, { timeout }, (context) => this.#run(context, body, settings));
  }

  async #run(context: TestContext, body: (subject: Subject) => Promise<void>, settings: TestSettings): Promise<void> {
    const stage = settings.stage ?? "open";
    const backend = await (settings.factory ?? this.options.factory)();
    const caps: BackendCapabilities = { ...backend.capabilities, ...this.options.capabilities };
    try {
      if (stage !== "fresh") await backend.create();
      if (stage === "open") await backend.open();
      await body({ backend, caps, skip: (reason) => context.skip(reason) as never });
    } catch (err) {
      // A teardown failure after a failed test would hide the test's own error.
      await this.#teardown(backend).catch(() => {});
      throw err;
    }
    await this.#teardown(backend);
  }

  async #teardown(backend: Backend): Promise<void> {
    try {
      if (backend.opened) await backend.close();
      try {
        await backend.destroy();
      } catch (err) {
        if ((err as { code?: string }).code !== "BACKEND_DOES_NOT_EXIST") throw err;
      }
    } finally {
      await this.options.cleanup?.(backend);
    }
  }
}
