import { MemoryBackend } from "@borgstore/core";
import { describe, expect, it } from "vitest";
import { BackendHost } from "../src/index.js";

const LIMIT = 300;
/** Generous for a loaded machine; what matters is "bounded", not the exact figure. */
const SLACK = 1500;

function later(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function host(): Promise<BackendHost> {
  const backend = new MemoryBackend();
  await backend.create();
  return new BackendHost(backend, { waitLimitMs: LIMIT });
}

async function outcome(run: Promise<unknown>): Promise<{ status: number | "ok"; ms: number }> {
  const started = Date.now();
  try {
    await run;
    return { status: "ok", ms: Date.now() - started };
  } catch (err) {
    return { status: (err as { status?: number }).status ?? -1, ms: Date.now() - started };
  }
}

describe("BackendHost: nobody waits longer than waitLimitMs", () => {
  it("a create behind a long operation gives up with 503 after the limit, and holds back no operation meanwhile", async () => {
    const h = await host();
    const long = h.use(() => later(LIMIT * 4));
    await later(20);
    const create = outcome(h.alone((b) => b.create()));
    await later(20);
    const behind = outcome(h.use((b) => b.info("x")));
    const [c, b] = await Promise.all([create, behind]);
    expect(c.status).toBe(503);
    expect(c.ms).toBeGreaterThanOrEqual(LIMIT - 20);
    expect(c.ms).toBeLessThan(LIMIT + SLACK);
    expect(b.status).toBe("ok");
    expect(b.ms).toBeLessThan(LIMIT + SLACK);
    await long;
  });

  it("an operation behind a long-running destroy gets 503 after the limit instead of waiting it out", async () => {
    const h = await host();
    const destroy = h.alone(async (b) => {
      await later(LIMIT * 4);
      await b.destroy();
    });
    await later(20);
    const info = await outcome(h.use((b) => b.info("x")));
    expect(info.status).toBe(503);
    expect(info.ms).toBeLessThan(LIMIT + SLACK);
    await destroy;
  });

  it("a 503 carries Retry-After", async () => {
    const h = await host();
    const long = h.use(() => later(LIMIT * 3));
    const err = await h.alone(async () => undefined).catch((e: unknown) => e);
    expect(err).toMatchObject({ status: 503, headers: { "Retry-After": "1" } });
    expect((err as Error).message).toBe("Service Unavailable: other requests are running, retry later");
    await long;
    const destroying = h.alone(() => later(LIMIT * 3));
    const refused = await h.use(async () => undefined).catch((e: unknown) => e);
    expect((refused as Error).message).toBe("Service Unavailable: the store is being created or destroyed, retry later");
    await destroying;
  });

  it("opens the backend for operations, closes it for exclusive runs and on close()", async () => {
    const h = await host();
    expect(await h.use(async (b) => b.opened)).toBe(true);
    expect(await h.alone(async (b) => b.opened)).toBe(false);
    expect(await h.use(async (b) => b.opened)).toBe(true);
    await h.close();
    expect(h.backend.opened).toBe(false);
  });

  it("race: 200 operations and 20 exclusive runs interleaved never overlap (no operation sees the backend closed)", async () => {
    const h = await host();
    let running = 0;
    let exclusive = false;
    const overlaps: string[] = [];
    const operation = async () => {
      const r = await outcome(
        h.use(async (b) => {
          running++;
          if (exclusive || !b.opened) overlaps.push("operation during exclusive");
          await later(Math.random() * 5);
          running--;
        }),
      );
      expect(["ok", 503]).toContain(r.status);
    };
    const alone = async () => {
      const r = await outcome(
        h.alone(async () => {
          if (running > 0) overlaps.push("exclusive during operation");
          exclusive = true;
          await later(Math.random() * 5);
          exclusive = false;
        }),
      );
      expect(["ok", 503]).toContain(r.status);
    };
    const all: Promise<void>[] = [];
    for (let i = 0; i < 200; i++) {
      all.push(operation());
      if (i % 10 === 0) all.push(alone());
      if (i % 7 === 0) await later(1);
    }
    await Promise.all(all);
    expect(overlaps).toEqual([]);
    await h.close();
  });
});
