import { randomBytes } from "node:crypto";
import type { SftpBackend, SftpBackendOptions } from "@borgstore/backend-sftp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freshBackend, freshPath, serverUrl } from "./server.js";

const RACE_MS = 2_000;

/**
 * Three readers `load()` one name while two writers, over a connection of their own (so
 * overwrites land between a load's requests), store `values` over it in turn: every load must
 * equal one of them exactly. The reader's `tuning` forces the settings under which loads used to
 * spread over sibling channels that opened the name again.
 */
function describeLoadRace(title: string, test: string, values: Buffer[], tuning: SftpBackendOptions, raceMs: number): void {
  describe.skipIf(!serverUrl)(title, () => {
    let backend: SftpBackend;
    let writerBackend: SftpBackend;

    beforeAll(async () => {
      const path = freshPath();
      backend = freshBackend(tuning, path);
      await backend.create();
      await backend.open();
      await backend.store("racy", values[0] as Uint8Array);
      writerBackend = freshBackend({}, path);
      await writerBackend.open();
    });

    afterAll(async () => {
      if (writerBackend?.opened) await writerBackend.close();
      if (backend?.opened) await backend.close();
      await backend?.destroy();
    });

    it(test, async () => {
      const until = Date.now() + raceMs;
      let writes = 0;
      const writer = async (first: number) => {
        for (let i = first; Date.now() < until; i++, writes++) await writerBackend.store("racy", values[i % values.length] as Uint8Array);
      };
      let wrong = 0;
      let loads = 0;
      const reader = async () => {
        while (Date.now() < until) {
          const value = Buffer.from(await backend.load("racy"));
          loads++;
          if (!values.some((v) => v.equals(value))) wrong++;
        }
      };
      await Promise.all([writer(1), writer(2), reader(), reader(), reader()]);
      expect({ wrong, of: loads }).toEqual({ wrong: 0, of: loads });
      expect(writes).toBeGreaterThan(2);
      expect(loads).toBeGreaterThan(2);
    }, 30_000);
  });
}

// Different sizes and contents: a mix of the two, or a prefix of one, equals neither. Small, so many overwrites land.
describeLoadRace(
  "sftp whole loads with spreading settings forced on while the name is overwritten",
  "return one whole stored value, never the first part of one with the rest of another",
  [randomBytes(1536 * 1024), randomBytes(1024 * 1024)],
  { spreadBytes: 64 * 1024, spreadRoundTrip: 0 },
  RACE_MS,
);

// The same size, different contents: SFTP's whole-second mtime and the size cannot tell them apart.
describeLoadRace(
  "sftp whole loads with spreading forced on while the name is overwritten by values of the same size",
  "return exactly one stored value, never one spliced from two (same size, same mtime second)",
  [randomBytes(2 * 1024 * 1024), randomBytes(2 * 1024 * 1024), randomBytes(2 * 1024 * 1024)],
  { spreadBytes: 64 * 1024, spreadRoundTrip: 0, chunkSize: 64 * 1024, requestsInFlight: 2 },
  RACE_MS * 2,
);
