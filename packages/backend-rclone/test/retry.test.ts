import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { type Server, createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RcloneBackend, isTransient } from "../src/index.js";
import { RcloneCallFailed } from "../src/rc-client.js";

describe("which rclone failures are retried", () => {
  it("HTTP 500 (rclone's backend, protocol or network trouble) and 502–504 are transient", () => {
    expect(isTransient(new RcloneCallFailed("operations/uploadfile", 500, "couldn't connect SSH: connection reset"))).toBe(true);
    expect(isTransient(new RcloneCallFailed("serving x", 503, "unavailable"))).toBe(true);
  });

  it("a 500 whose cause cannot change by asking again is not retried", () => {
    for (const text of ["remove /d: directory not empty", "is a directory not a file", 'unknown hash type "blake3"', "Move Rename failed: sftp: \"Failure\""])
      expect(isTransient(new RcloneCallFailed("op", 500, text))).toBe(false);
  });

  it("4xx answers are final", () => {
    expect(isTransient(new RcloneCallFailed("operations/deletefile", 404, "object not found"))).toBe(false);
    expect(isTransient(new RcloneCallFailed("op", 400, "bad request"))).toBe(false);
  });

  it("lost connections and timeouts are transient, other errors are not", () => {
    for (const code of ["ECONNRESET", "EPIPE", "UND_ERR_SOCKET", "UND_ERR_HEADERS_TIMEOUT"])
      expect(isTransient(Object.assign(new Error(code), { code }))).toBe(true);
    expect(isTransient(new Error("something else"))).toBe(false);
    expect(isTransient(undefined)).toBe(false);
  });
});

describe("tries and backoffMs, against a real rclone whose sftp remote cannot be reached", () => {
  // Every connection to this "sftp server" is cut at once: rclone fails each call with HTTP 500
  // "couldn't connect SSH", a transient failure, and each attempt is one connection here.
  const attempts: number[] = [];
  let server: Server;
  let remote: string;
  const root = mkdtempSync(join(tmpdir(), "borgstore-rclone-retry-"));
  beforeAll(async () => {
    server = createServer((socket) => {
      attempts.push(Date.now());
      socket.destroy();
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const key = join(root, "key");
    execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", key]);
    remote = `:sftp,host=127.0.0.1,port=${(server.address() as { port: number }).port},user=nobody,key_file="${key}":/store`;
  });
  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
    rmSync(root, { recursive: true, force: true });
  });

  // rclone's own low-level retries would multiply the connections: one per call here.
  const backend = (tries: number, backoffMs: number) =>
    new RcloneBackend({ remote, tries, backoffMs, rcloneArgs: ["--low-level-retries", "1"] });

  async function failedOpen(b: RcloneBackend): Promise<Error> {
    const err = await b.open().then(
      () => new Error("open succeeded"),
      (e: Error) => e,
    );
    await b.close().catch(() => undefined);
    return err;
  }

  it("asks rclone `tries` times, waiting backoffMs and then 4× as long between attempts", async () => {
    attempts.length = 0;
    const err = await failedOpen(backend(3, 300));
    expect(err.message).toMatch(/couldn't connect SSH/);
    expect(attempts).toHaveLength(3);
    const [first, second, third] = attempts as [number, number, number];
    // Each pause is backoffMs · 4^n · (0.5 … 1.5): the first at least 150 ms, the second longer.
    expect(second - first).toBeGreaterThanOrEqual(150);
    expect(third - second).toBeGreaterThanOrEqual(600);
    expect(third - second).toBeGreaterThan(second - first);
  }, 30_000);

  it("tries: 1 asks once", async () => {
    attempts.length = 0;
    expect((await failedOpen(backend(1, 300))).message).toMatch(/couldn't connect SSH/);
    expect(attempts).toHaveLength(1);
  }, 30_000);
});
