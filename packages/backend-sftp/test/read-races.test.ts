import { randomBytes } from "node:crypto";
import type { SftpBackend } from "@borgstore/backend-sftp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freshBackend, freshPath, serverUrl } from "./server.js";

/** Different sizes and contents: a mix of the two, or a prefix of one, equals neither. Small, so many overwrites land. */
const VALUES = [randomBytes(1536 * 1024), randomBytes(1024 * 1024)];
const RACE_MS = 2_000;

describe.skipIf(!serverUrl)("sftp whole loads spread over several channels while the name is overwritten", () => {
  let backend: SftpBackend;
  /** Writes over its own connection, so overwrites land between a load's opens. */
  let writerBackend: SftpBackend;

  beforeAll(async () => {
    // Spread every load above 64 KiB over the sibling channels, which open the file by name again.
    const path = freshPath();
    backend = freshBackend({ spreadBytes: 64 * 1024, spreadRoundTrip: 0 }, path);
    await backend.create();
    await backend.open();
    await backend.store("racy", VALUES[0] as Uint8Array);
    writerBackend = freshBackend({}, path);
    await writerBackend.open();
  });

  afterAll(async () => {
    if (writerBackend?.opened) await writerBackend.close();
    if (backend?.opened) await backend.close();
    await backend?.destroy();
  });

  it("return one whole stored value, never the first part of one with the rest of another", async () => {
    const until = Date.now() + RACE_MS;
    let writes = 0;
    const writer = async () => {
      for (let i = 1; Date.now() < until; i++, writes++) await writerBackend.store("racy", VALUES[i % 2] as Uint8Array);
    };
    const wrong: number[] = [];
    let loads = 0;
    const reader = async () => {
      while (Date.now() < until) {
        const value = Buffer.from(await backend.load("racy"));
        loads++;
        if (!VALUES.some((v) => v.equals(value))) wrong.push(value.byteLength);
      }
    };
    await Promise.all([writer(), writer(), reader(), reader(), reader()]);
    expect(wrong).toEqual([]);
    expect(writes).toBeGreaterThan(2);
    expect(loads).toBeGreaterThan(2);
  }, 30_000);
});

/** The same size, different contents: SFTP's whole-second mtime and the size cannot tell them apart. */
const SAME_SIZE = [randomBytes(2 * 1024 * 1024), randomBytes(2 * 1024 * 1024), randomBytes(2 * 1024 * 1024)];

describe.skipIf(!serverUrl)("sftp whole loads with spreading forced on while the name is overwritten by values of the same size", () => {
  let backend: SftpBackend;
  let writerBackend: SftpBackend;

  beforeAll(async () => {
    const path = freshPath();
    const tuning = { spreadBytes: 64 * 1024, spreadRoundTrip: 0, chunkSize: 64 * 1024, requestsInFlight: 2 };
    backend = freshBackend(tuning, path);
    await backend.create();
    await backend.open();
    await backend.store("same-size", SAME_SIZE[0] as Uint8Array);
    writerBackend = freshBackend({}, path);
    await writerBackend.open();
  });

  afterAll(async () => {
    if (writerBackend?.opened) await writerBackend.close();
    if (backend?.opened) await backend.close();
    await backend?.destroy();
  });

  it("return exactly one stored value, never one spliced from two (same size, same mtime second)", async () => {
    const until = Date.now() + RACE_MS * 2;
    let writes = 0;
    const writer = async (first: number) => {
      for (let i = first; Date.now() < until; i++, writes++) await writerBackend.store("same-size", SAME_SIZE[i % 3] as Uint8Array);
    };
    let spliced = 0;
    let loads = 0;
    const reader = async () => {
      while (Date.now() < until) {
        const value = Buffer.from(await backend.load("same-size"));
        loads++;
        if (!SAME_SIZE.some((v) => v.equals(value))) spliced++;
      }
    };
    await Promise.all([writer(1), writer(2), reader(), reader(), reader()]);
    expect({ spliced, of: loads }).toEqual({ spliced: 0, of: loads });
    expect(writes).toBeGreaterThan(2);
    expect(loads).toBeGreaterThan(2);
  }, 30_000);
});
