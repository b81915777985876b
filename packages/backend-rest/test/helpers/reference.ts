import { mkdirSync, writeFileSync } from "node:fs";
import { delimiter, join } from "node:path";
import type { Backend } from "@borgstore/core";
import { type ReferencePeer, failingSource, randomBytes, referenceEnv } from "@borgstore/testkit";
import { expect } from "vitest";

/**
 * The Python reference's own defects: kit tests it fails whatever the client does. They run as
 * expected failures (testkit `knownFailures`): once the reference is fixed, its entry fails.
 */
export const REFERENCE_DEFECTS: Readonly<Record<string, string>> = {
  "size, offset and negative offset select the right bytes":
    "the reference seeks before the start for a negative offset reaching past it (EINVAL → 500)",
  "partial loads inside a namespace and of an empty value": "the reference seeks before the start of an empty value (EINVAL → 500)",
  "loadStream honours offset and size like load": "the reference seeks before the start for a negative offset reaching past it (EINVAL → 500)",
  "hash › hash of a missing object fails with OBJECT_NOT_FOUND":
    "the reference lacks blake3 (no package in Debian 12) and checks the algorithm before the object",
  "hash › blake3 of": "the reference lacks blake3 (no package in Debian 12)",
  "hash › xxh64 of": "the reference lacks xxh64 (no package in Debian 12)",
  "defrag › blake3 and xxh64 derive names too": "the reference lacks blake3 and xxh64 (no package in Debian 12)",
};

/**
 * Reference defects that show only when a race lands (so neither a pass nor a failure is certain):
 * skipped by name with the reason, since an expected failure would fail whenever the race missed.
 * Both are the reference's alone: it sends no Content-Range, so our client asks it for slices from
 * the end only as suffix ranges (no size first), and with the skip removed both fail with the
 * reference's HTTP 500, never with wrong bytes.
 */
export const REFERENCE_RACE_DEFECTS: Readonly<Record<string, string>> = {
  "partial loads and loadStreams (offset, size, from the end) racing overwrites":
    "the reference seeks before the start for a suffix range longer than the value a writer just stored (EINVAL → 500), when the race lands",
  "a short slice far from the end racing overwrites":
    "the reference seeks before the start for a suffix range longer than the value a writer just stored (EINVAL → 500), when the race lands",
};

/**
 * An environment whose PATH finds the reference as `borgstore-server-rest`, so `rest:///path`
 * runs it exactly as it runs ours. `-S` leaves out site-packages: the stdio server on a posixfs
 * store needs only the standard library, and without requests/paramiko it starts in a quarter
 * of the time (three starts per kit test).
 */
export function referenceOnPath(peer: ReferencePeer, dir: string): NodeJS.ProcessEnv {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "borgstore-server-rest"), `#!/bin/sh\nexec '${peer.python}' -S -m borgstore.server.rest "$@"\n`, { mode: 0o755 });
  return referenceEnv(peer, { PATH: `${dir}${delimiter}${process.env.PATH ?? ""}` });
}

/** A stream store that stops, with its source's error, after 300 kB of the 1 MB it announced. */
export async function expectAbortedUploadLeavesNothing(backend: Backend): Promise<void> {
  const err = await backend
    .storeStream("data/aborted", failingSource(randomBytes(300_000), new Error("source broke midway")), { size: 1_000_000 })
    .then(
      () => undefined,
      (e: unknown) => e,
    );
  expect(String(err)).toContain("source broke midway");
  expect(await backend.info("data/aborted")).toMatchObject({ exists: false });
}
