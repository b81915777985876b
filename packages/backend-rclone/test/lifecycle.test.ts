import { spawn } from "node:child_process";
import { existsSync, readFileSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { createInterface } from "node:readline";
import { setTimeout as sleep } from "node:timers/promises";
import { describe, expect, it } from "vitest";
import { RcloneBackend } from "../src/index.js";
import { commandLine, environment, isRunning, ourRcds, waitGone } from "./processes.js";
import { localRoot } from "./remotes.js";

const root = localRoot();
let n = 0;
const fresh = (options: { lingerMs?: number } = {}) => new RcloneBackend({ remote: join(root, `s${n++}`), ...options });

/** Runs fixtures/hold-open.mjs and resolves with the child and the rclone pid it reports. */
async function holdOpen(mode: "wait" | "crash" | "forget") {
  const child = spawn(process.execPath, [join(import.meta.dirname, "fixtures/hold-open.mjs"), join(root, `c${n++}`), mode], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) =>
    child.once("exit", (code, signal) => resolve({ code, signal })),
  );
  let stderr = "";
  child.stderr.on("data", (d) => (stderr += d));
  const line = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout }).once("line", resolve);
    exited.then(() => reject(new Error(`child exited early: ${stderr}`)));
  });
  const { rclonePid } = JSON.parse(line) as { rclonePid: number };
  expect(isRunning(rclonePid)).toBe(true);
  return { child, rclonePid, exited };
}

describe("the rclone rcd lifecycle", () => {
  it("open starts rcd and close stops it: its process is gone when close() resolves", async () => {
    const backend = fresh();
    await backend.create();
    await backend.open();
    const pid = backend.rclonePid as number;
    expect(isRunning(pid)).toBe(true);
    await backend.close();
    expect(isRunning(pid)).toBe(false);
    await backend.destroy();
  });

  it("rcd listens on loopback and knows only a hash of its random password: on no command line, in no environment", async () => {
    const backend = fresh();
    await backend.create();
    await backend.open();
    const pid = backend.rclonePid as number;
    const argv = commandLine(pid);
    expect(argv).toContain("rcd");
    expect(argv[argv.indexOf("--rc-addr") + 1]).toBe("127.0.0.1:0");
    expect(argv.join(" ")).not.toMatch(/--rc-pass|--rc-user/);
    expect(environment(pid).filter((v) => v.startsWith("RCLONE_RC_"))).toEqual([]);
    const htpasswd = argv[argv.indexOf("--rc-htpasswd") + 1] as string;
    expect(statSync(htpasswd).mode & 0o777).toBe(0o600);
    expect(statSync(dirname(htpasswd)).mode & 0o777).toBe(0o700);
    expect(readFileSync(htpasswd, "utf8")).toMatch(/^borgstore-[0-9a-f]{12}:\{SHA\}[A-Za-z0-9+/]{27}=\n$/);
    expect(new URL(backend.rcdUrl as string).hostname).toBe("127.0.0.1");
    await backend.close();
    expect(existsSync(htpasswd)).toBe(false);
    await backend.destroy();
  });

  it("rcd answers nobody without the backend's credentials", async () => {
    const backend = fresh();
    await backend.create();
    await backend.open();
    const url = `${backend.rcdUrl}/core/version`;
    expect((await fetch(url, { method: "POST" })).status).toBe(401);
    const argv = commandLine(backend.rclonePid as number);
    const user = readFileSync(argv[argv.indexOf("--rc-htpasswd") + 1] as string, "utf8").split(":")[0];
    const guess = `Basic ${Buffer.from(`${user}:guess`).toString("base64")}`;
    expect((await fetch(url, { method: "POST", headers: { authorization: guess } })).status).toBe(401);
    await backend.close();
    await backend.destroy();
  });

  it("backends open at once share one rcd, which stops when the last one closes", async () => {
    const a = fresh();
    const b = fresh();
    await a.create();
    await b.create();
    await a.open();
    await b.open();
    expect(b.rclonePid).toBe(a.rclonePid);
    const pid = a.rclonePid as number;
    await a.close();
    expect(isRunning(pid)).toBe(true);
    await b.store("still", new Uint8Array([7]));
    await b.close();
    expect(isRunning(pid)).toBe(false);
    await a.destroy();
    await b.destroy();
  });

  it("an rcd started for create() or destroy() serves a following open(), then stops after lingerMs", async () => {
    const backend = fresh({ lingerMs: 300 });
    await backend.create();
    const [afterCreate] = ourRcds();
    expect(afterCreate).toBeDefined();
    await backend.open();
    expect(backend.rclonePid).toBe(afterCreate);
    await backend.close();
    expect(ourRcds()).toEqual([]);
    await backend.destroy();
    expect(ourRcds()).toHaveLength(1);
    await waitGone(ourRcds()[0] as number, 3000);
    expect(ourRcds()).toEqual([]);
  });

  it("an rcd that died is replaced at the next open", async () => {
    const backend = fresh({ lingerMs: 5000 });
    await backend.create();
    const [lingering] = ourRcds();
    process.kill(lingering as number, "SIGKILL");
    await waitGone(lingering as number);
    await sleep(200); // for the watchdog's exit to reach this process
    await backend.open();
    expect(backend.rclonePid).not.toBe(lingering);
    await backend.store("x", new Uint8Array([1]));
    await backend.close();
    await backend.destroy();
  });

  it("an rclone that dies while the backend is open is restarted at the next operation", async () => {
    const backend = fresh();
    await backend.create();
    await backend.open();
    await backend.store("before", new Uint8Array([1]));
    const first = backend.rclonePid as number;
    process.kill(first, "SIGKILL");
    await waitGone(first);
    await sleep(200); // for the watchdog's exit to reach this process
    await Promise.all([backend.store("after", new Uint8Array([2])), backend.load("before"), backend.info("before")]);
    expect(backend.rclonePid).not.toBe(first);
    expect(await backend.load("after")).toEqual(new Uint8Array([2]));
    await backend.close();
    expect(ourRcds()).toEqual([]);
    await backend.destroy();
  });

  for (const signal of ["SIGKILL", "SIGTERM"] as const)
    it(`a caller killed with ${signal} while open leaves no rclone behind`, async () => {
      const { child, rclonePid, exited } = await holdOpen("wait");
      child.kill(signal);
      await exited;
      expect(await waitGone(rclonePid)).toBe(true);
    });

  it("a caller whose event loop crashes with an uncaught exception leaves no rclone behind", async () => {
    const { rclonePid, exited } = await holdOpen("crash");
    expect((await exited).code).not.toBe(0);
    expect(await waitGone(rclonePid)).toBe(true);
  });

  it("an open backend does not keep the caller alive: a caller that never closes still ends, and rclone with it", async () => {
    const { rclonePid, exited } = await holdOpen("forget");
    expect(await exited).toEqual({ code: 0, signal: null });
    expect(await waitGone(rclonePid)).toBe(true);
  });
});
