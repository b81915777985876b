import { type Server, createServer } from "node:net";
import { sftpBackendFromUrl } from "@borgstore/backend-sftp";
import { ErrorCodes } from "@borgstore/core";
import { afterEach, describe, expect, it } from "vitest";

// The ssh connection runs over a socket of our own (large reads); failures to reach a server
// must still surface as connection errors, not hang or escape as raw socket errors.
describe("sftp connection failures", () => {
  let server: Server | undefined;
  afterEach(async () => {
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
    server = undefined;
  });

  const options = { sshConfigFiles: [], agent: false as const, privateKeys: [], knownHostsFiles: [], idleConnectionTimeout: 0 };

  async function freePort(): Promise<number> {
    const probe = createServer();
    await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve));
    const { port } = probe.address() as { port: number };
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    return port;
  }

  it("nothing listening: BACKEND_CONNECTION_ERROR naming the host", async () => {
    const port = await freePort();
    const backend = sftpBackendFromUrl(`sftp://nobody@127.0.0.1:${port}/x`, options);
    const err = await backend?.open().catch((e: unknown) => e);
    expect(err).toMatchObject({ code: ErrorCodes.BACKEND_CONNECTION_ERROR });
    expect(String((err as Error).message)).toContain(`127.0.0.1:${port}`);
  });

  it("a server that accepts and never speaks: BACKEND_CONNECTION_ERROR after connectTimeout", async () => {
    const held = new Set<import("node:net").Socket>();
    server = createServer((s) => {
      held.add(s);
      s.on("close", () => held.delete(s));
    });
    await new Promise<void>((resolve) => server?.listen(0, "127.0.0.1", resolve));
    const { port } = server.address() as { port: number };
    const backend = sftpBackendFromUrl(`sftp://nobody@127.0.0.1:${port}/x`, { ...options, connectTimeout: 300 });
    const started = Date.now();
    const err = await backend?.open().catch((e: unknown) => e);
    for (const s of held) s.destroy();
    expect(err).toMatchObject({ code: ErrorCodes.BACKEND_CONNECTION_ERROR });
    expect(Date.now() - started).toBeLessThan(5000);
  });
});
