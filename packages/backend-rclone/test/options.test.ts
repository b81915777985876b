import { execFileSync } from "node:child_process";
import { chmodSync, mkdtempSync, writeFileSync } from "node:fs";
import { type Server, type Socket, createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BackendConnectionError, BackendError } from "@borgstore/core";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { RcloneBackend } from "../src/index.js";
import { commandLine } from "./processes.js";
import { localRoot } from "./remotes.js";

const root = localRoot();
let n = 0;
const bytes = (text: string) => new TextEncoder().encode(text);

/**
 * A TCP server standing in for an SSH host that rclone's sftp remote dials: it records when each
 * connection arrives and then either resets it (rclone answers HTTP 500, a transient failure) or
 * holds it without a word (rclone waits for the SSH banner, so its answer never comes).
 */
async function fakeSshHost(behaviour: "reset" | "silent") {
  const arrivals: number[] = [];
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    arrivals.push(Date.now());
    sockets.add(socket);
    socket.on("error", () => {});
    if (behaviour === "reset") socket.resetAndDestroy();
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as { port: number }).port;
  const password = execFileSync("rclone", ["obscure", "not-used"], { encoding: "utf8" }).trim();
  return {
    arrivals,
    /** An sftp remote on this host; rclone dials once per operation (no low-level retries of its own). */
    remote: `:sftp,host=127.0.0.1,port=${port},user=nobody,pass=${password}:/store`,
    close: () => {
      for (const socket of sockets) socket.destroy();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** rclone would dial 10 times per rc call by itself (its --low-level-retries); once makes our retries countable. */
const DIAL_ONCE = ["--low-level-retries", "1"] as const;

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup();
});

async function hostFor(behaviour: "reset" | "silent") {
  const host = await fakeSshHost(behaviour);
  cleanups.push(host.close);
  return host;
}

describe("RcloneBackend options, against a real rcd", () => {
  it("tries: an operation failing transiently is attempted exactly `tries` times", async () => {
    const host = await hostFor("reset");
    for (const tries of [1, 4]) {
      host.arrivals.length = 0;
      const backend = new RcloneBackend({ remote: host.remote, tries, backoffMs: 1, rcloneArgs: DIAL_ONCE });
      await expect(backend.open()).rejects.toThrow(/couldn't connect SSH/);
      expect(host.arrivals.length).toBe(tries);
    }
  });

  it("backoffMs: the pause before a retry is at least half of backoffMs (the jitter's lower end)", async () => {
    const host = await hostFor("reset");
    const backend = new RcloneBackend({ remote: host.remote, tries: 2, backoffMs: 1200, rcloneArgs: DIAL_ONCE });
    await expect(backend.open()).rejects.toThrow(BackendError);
    expect(host.arrivals.length).toBe(2);
    // The default (200 ms) would pause 100–300 ms.
    expect((host.arrivals[1] as number) - (host.arrivals[0] as number)).toBeGreaterThanOrEqual(600);
  });

  it("timeoutMs: an answer rclone never gives fails the operation after timeoutMs (rclone itself would wait a minute)", async () => {
    const host = await hostFor("silent");
    const backend = new RcloneBackend({ remote: host.remote, tries: 1, timeoutMs: 400, rcloneArgs: DIAL_ONCE });
    const started = Date.now();
    await expect(backend.open()).rejects.toThrow(BackendConnectionError);
    expect(host.arrivals.length).toBe(1);
    expect(Date.now() - started).toBeLessThan(8000);
  }, 15_000);

  it("startTimeoutMs: an rclone that never starts listening fails open() after startTimeoutMs", async () => {
    const dir = mkdtempSync(join(tmpdir(), "borgstore-rclone-mute-"));
    const binary = join(dir, "rclone");
    writeFileSync(binary, "#!/bin/sh\nexec sleep 60\n");
    chmodSync(binary, 0o755);
    const backend = new RcloneBackend({ remote: join(root, `s${n++}`), binary, startTimeoutMs: 300 });
    const started = Date.now();
    await expect(backend.open()).rejects.toThrow(/did not start listening within 300 ms/);
    expect(Date.now() - started).toBeLessThan(5000);
  }, 15_000);

  it("rcloneArgs reach rcd: a remote named in a config file given with --config works", async () => {
    const dir = mkdtempSync(join(tmpdir(), "borgstore-rclone-config-"));
    const config = join(dir, "rclone.conf");
    writeFileSync(config, `[configured]\ntype = local\n`);
    const remote = `configured:${join(root, `s${n++}`)}`;
    const withoutConfig = new RcloneBackend({ remote, rcloneArgs: ["--config", join(dir, "absent.conf")] });
    await expect(withoutConfig.create()).rejects.toThrow(/didn.t find section in config file/);
    const backend = new RcloneBackend({ remote, rcloneArgs: ["--config", config] });
    await backend.create();
    await backend.open();
    expect(commandLine(backend.rclonePid as number)).toEqual(expect.arrayContaining(["--config", config]));
    await backend.store("config", bytes("via a configured remote"));
    expect(new TextDecoder().decode(await backend.load("config"))).toBe("via a configured remote");
    await backend.close();
    await backend.destroy();
  });

  it("connections bounds the keep-alive connections to rcd (rc calls and file reads, each up to it), however many operations are in flight", async () => {
    const established = (backend: RcloneBackend) => {
      const port = new URL(backend.rcdUrl as string).port;
      const out = execFileSync("ss", ["-tnH", "state", "established", "dst", `127.0.0.1:${port}`], { encoding: "utf8" });
      return out.split("\n").filter(Boolean).length;
    };
    const counts: number[] = [];
    for (const connections of [2, 16]) {
      const backend = new RcloneBackend({ remote: join(root, `s${n++}`), connections });
      await backend.create();
      await backend.open();
      await Promise.all(Array.from({ length: 24 }, (_, i) => backend.store(`v${i}`, bytes(`value ${i}`))));
      await Promise.all(Array.from({ length: 24 }, (_, i) => backend.load(`v${i}`)));
      counts.push(established(backend));
      await backend.close();
      await backend.destroy();
    }
    expect(counts[0]).toBeGreaterThanOrEqual(1);
    expect(counts[0]).toBeLessThanOrEqual(2 * 2);
    expect(counts[1]).toBeGreaterThan(2 * 2);
    expect(counts[1]).toBeLessThanOrEqual(2 * 16);
  });

  describe("debug", () => {
    const original = process.stderr.write;
    afterAll(() => {
      process.stderr.write = original;
    });

    async function rcloneLinesWith(debug: boolean): Promise<{ lines: string[]; argv: string[] }> {
      const lines: string[] = [];
      process.stderr.write = ((chunk: string | Uint8Array, ...rest: unknown[]) => {
        const text = String(chunk);
        if (text.startsWith("rclone: ")) lines.push(text);
        return (original as (...args: unknown[]) => boolean).call(process.stderr, chunk, ...rest);
      }) as typeof process.stderr.write;
      try {
        const backend = new RcloneBackend({ remote: join(root, `s${n++}`), debug });
        await backend.create();
        await backend.open();
        const argv = commandLine(backend.rclonePid as number);
        await backend.store("logged", bytes("x"));
        await backend.close();
        await backend.destroy();
        return { lines, argv };
      } finally {
        process.stderr.write = original;
      }
    }

    it("debug: true runs rcd at DEBUG level and passes its log to stderr", async () => {
      const { lines, argv } = await rcloneLinesWith(true);
      expect(argv[argv.indexOf("--log-level") + 1]).toBe("DEBUG");
      expect(lines.some((line) => line.includes("DEBUG"))).toBe(true);
    });

    it("debug: false keeps rclone quiet (NOTICE level, nothing on stderr)", async () => {
      const { lines, argv } = await rcloneLinesWith(false);
      expect(argv[argv.indexOf("--log-level") + 1]).toBe("NOTICE");
      expect(lines).toEqual([]);
    });
  });
});
