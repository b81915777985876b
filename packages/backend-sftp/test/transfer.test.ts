import { randomBytes } from "node:crypto";
import type { SftpBackend } from "@borgstore/backend-sftp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freshBackend, serverUrl } from "./server.js";

/** Collects a byte stream. */
async function collect(source: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const chunk of source) parts.push(Buffer.from(chunk));
  return Buffer.concat(parts);
}

// READ answers are received straight into their destination (src/data-in-place.ts) while every
// other answer goes through ssh2's parser: mix them on one channel, at sizes that put the SFTP
// packet boundaries at every kind of place in the SSH packets and socket reads.
// Also with big transfers spread over all channels (forced: on loopback the round trip is too
// short for the default to spread).
const setups = [
  { label: "1 SFTP channel", options: { sftpChannels: 1 } },
  { label: "4 SFTP channels", options: { sftpChannels: 4 } },
  { label: "4 SFTP channels, transfers from 1 MiB spread over all", options: { sftpChannels: 4, spreadBytes: 1024 * 1024, spreadRoundTrip: 0 } },
];

describe.skipIf(!serverUrl).each(setups)("sftp transfers over $label: answers of every kind and size interleaved", ({ options }) => {
  let backend: SftpBackend;
  const values = new Map<string, Buffer>();
  const sizes = [0, 1, 13, 4095, 4096, 32_755, 32_768, 65_536 + 7, 261_119, 261_120, 261_121, 600_001, 3 * 1024 * 1024 + 5];

  beforeAll(async () => {
    // Small, odd request sizes and a deep window: many answers outstanding, split across SSH packets.
    backend = freshBackend({ chunkSize: 20_011, requestsInFlight: 24, ...options });
    await backend.create();
    await backend.open();
    await backend.mkdir("d");
    for (const [i, size] of sizes.entries()) values.set(`d/v${i}`, randomBytes(size));
  });
  afterAll(async () => {
    if (backend?.opened) await backend.close();
    await backend?.destroy().catch(() => {});
  });

  it("stores, loads (whole, ranged, streamed), infos and lists all at once come back byte for byte", async () => {
    await Promise.all([...values].map(([name, value]) => backend.store(name, value)));
    const checks: Promise<void>[] = [];
    for (let round = 0; round < 3; round++) {
      for (const [name, value] of values) {
        checks.push(backend.load(name).then((got) => void expect(Buffer.from(got).equals(value)).toBe(true)));
        const offset = Math.floor(value.length / 3);
        const size = Math.min(value.length - offset, 70_001);
        checks.push(
          backend.load(name, { offset, size }).then((got) => void expect(Buffer.from(got).equals(value.subarray(offset, offset + size))).toBe(true)),
        );
        checks.push(backend.loadStream(name).then(collect).then((got) => void expect(got.equals(value)).toBe(true)));
        checks.push(backend.info(name).then((info) => void expect(info.size).toBe(value.length)));
        // Overwrites and deletes of other names run between the reads.
        checks.push(backend.store(`d/other${round}-${name.slice(2)}`, randomBytes(3000)));
      }
      checks.push(
        (async () => {
          const names: string[] = [];
          for await (const item of backend.list("d")) names.push(item.name);
          expect(names).toEqual(expect.arrayContaining([...values.keys()].map((n) => n.slice(2))));
        })(),
      );
    }
    await Promise.all(checks);
  });

  it("a streamed slice tells the total of the file it opened, even once the name holds another value", async () => {
    await backend.store("d/total", randomBytes(5000));
    const slice = await backend.loadStream("d/total", { offset: -300, size: 100 });
    await backend.store("d/total", randomBytes(7000));
    expect([slice.size, slice.total]).toEqual([100, 5000]);
    expect((await collect(slice)).byteLength).toBe(100);
  });

  it("a load asking past the end of the object gets what there is", async () => {
    const value = values.get("d/v8") as Buffer; // 261,120 bytes: exactly one full request at the server's limit
    const got = await backend.load("d/v8", { offset: value.length - 100, size: 300 });
    expect(Buffer.from(got).equals(value.subarray(value.length - 100))).toBe(true);
    expect((await backend.load("d/v0")).length).toBe(0);
  });
});
