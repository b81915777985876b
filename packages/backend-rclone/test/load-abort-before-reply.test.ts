import { chmodSync, existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { RcloneBackend } from "../src/index.js";
import { localRoot } from "./remotes.js";

/**
 * The real rclone behind a stand-in binary that puts a TCP proxy in front of rcd's port. While
 * the file STALL exists, the proxy answers no file-serving GET (`GET /%5B…`, rcd's own pool of
 * connections): rcd seems to read the file for ever, its rc calls still answer.
 */
const WRAPPER = `#!/usr/bin/env node
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import net from "node:net";
import { createInterface } from "node:readline";
const stall = process.env.BORGSTORE_TEST_STALL_FILE;
const child = spawn(process.env.BORGSTORE_TEST_REAL_RCLONE ?? "rclone", process.argv.slice(2), { stdio: ["inherit", "inherit", "pipe"] });
for (const sig of ["SIGTERM", "SIGINT", "SIGHUP"]) process.on(sig, () => child.kill(sig));
child.on("exit", (code) => process.exit(code ?? 1));
createInterface({ input: child.stderr }).on("line", (line) => {
  const m = /Serving remote control on http:\\/\\/127\\.0\\.0\\.1:(\\d+)/.exec(line);
  if (!m) return void process.stderr.write(line + "\\n");
  const proxy = net.createServer((client) => {
    client.once("data", (first) => {
      if (first.toString("latin1").startsWith("GET /%5B") && existsSync(stall)) return;
      const upstream = net.connect(Number(m[1]), "127.0.0.1");
      upstream.write(first);
      client.pipe(upstream).pipe(client);
      upstream.on("error", () => client.destroy());
      client.on("error", () => upstream.destroy());
    });
  });
  proxy.listen(0, "127.0.0.1", () => process.stderr.write(line.replace(m[1], String(proxy.address().port)) + "\\n"));
});
`;

describe("rclone: an aborted load whose reply has not come yet", () => {
  const dir = mkdtempSync(join(tmpdir(), "borgstore-rclone-stall-"));
  const binary = join(dir, "rclone-stand-in.mjs");
  const stallFile = join(dir, "STALL");
  writeFileSync(binary, WRAPPER);
  chmodSync(binary, 0o755);
  process.env.BORGSTORE_TEST_STALL_FILE = stallFile;
  const root = localRoot();
  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
    rmSync(root, { recursive: true, force: true });
  });

  it("ends with ABORTED soon after the signal, with into and without (it waited for rcd's timeout, 300 s by default)", { timeout: 20_000 }, async () => {
    const backend = new RcloneBackend({ remote: `:local:${root}/store`, binary, timeoutMs: 60_000 });
    await backend.create();
    await backend.open();
    try {
      const value = new Uint8Array(100_000).fill(3);
      await backend.store("data/v", value);
      writeFileSync(stallFile, "");
      for (const into of [new Uint8Array(200_000), undefined]) {
        const signal = AbortSignal.timeout(300);
        const started = Date.now();
        await expect(backend.load("data/v", { signal, into })).rejects.toMatchObject({ code: "ABORTED" });
        expect(Date.now() - started).toBeLessThan(5000);
      }
      rmSync(stallFile);
      expect(existsSync(stallFile)).toBe(false);
      expect(await backend.load("data/v")).toEqual(value);
    } finally {
      await backend.close();
    }
  });
});
