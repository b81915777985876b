import { chmodSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { isBorgStoreError } from "@borgstore/core";
import { afterEach, describe, expect, it } from "vitest";
import { RcloneBackend, isSupportedRcloneVersion } from "../src/index.js";
import { ourRcds } from "./processes.js";
import { localRoot } from "./remotes.js";

const root = localRoot();
let n = 0;
const saved = process.env.RCLONE_BINARY;
afterEach(() => {
  if (saved === undefined) delete process.env.RCLONE_BINARY;
  else process.env.RCLONE_BINARY = saved;
});

async function failure(promise: Promise<unknown>): Promise<Error & { code?: string }> {
  try {
    await promise;
  } catch (err) {
    return err as Error;
  }
  throw new Error("expected a failure");
}

describe("finding rclone", () => {
  it("a missing binary named by RCLONE_BINARY fails open, create and destroy with BACKEND_DOES_NOT_EXIST and a hint", async () => {
    process.env.RCLONE_BINARY = join(root, "no-such-rclone");
    const backend = new RcloneBackend({ remote: join(root, `s${n++}`) });
    for (const attempt of [() => backend.open(), () => backend.create(), () => backend.destroy()]) {
      const err = await failure(attempt());
      expect(isBorgStoreError(err, "BACKEND_DOES_NOT_EXIST")).toBe(true);
      expect(err.message).toMatch(/rclone binary not found.*no-such-rclone.*RCLONE_BINARY/);
    }
    expect(backend.opened).toBe(false);
    expect(ourRcds()).toEqual([]);
  });

  it("the binary option wins over RCLONE_BINARY, and a file that is not executable is reported the same way", async () => {
    const notExecutable = join(root, "not-executable");
    writeFileSync(notExecutable, "#!/bin/sh\n");
    chmodSync(notExecutable, 0o644);
    process.env.RCLONE_BINARY = "rclone";
    const err = await failure(new RcloneBackend({ remote: join(root, `s${n++}`), binary: notExecutable }).open());
    expect(isBorgStoreError(err, "BACKEND_DOES_NOT_EXIST")).toBe(true);
  });

  it("a program that is not rclone (exits at once) fails open with BACKEND_ERROR quoting its output", async () => {
    const impostor = join(root, "impostor");
    writeFileSync(impostor, "#!/bin/sh\necho 'I am not rclone' >&2\nexit 3\n");
    chmodSync(impostor, 0o755);
    const err = await failure(new RcloneBackend({ remote: join(root, `s${n++}`), binary: impostor }).open());
    expect(isBorgStoreError(err, "BACKEND_ERROR")).toBe(true);
    expect(err.message).toMatch(/exited with code 3: I am not rclone/);
  });

  it("RCLONE_BINARY names the rclone to run (here a wrapper that logs its arguments and runs the real one)", async () => {
    const log = join(root, "wrapper.log");
    const wrapper = join(root, "rclone-wrapper");
    writeFileSync(wrapper, `#!/bin/sh\necho "$@" >> '${log}'\nexec rclone "$@"\n`);
    chmodSync(wrapper, 0o755);
    process.env.RCLONE_BINARY = wrapper;
    const backend = new RcloneBackend({ remote: join(root, `s${n++}`), lingerMs: 0 });
    await backend.create();
    await backend.open();
    await backend.store("x", new Uint8Array([1]));
    expect(await backend.load("x")).toEqual(new Uint8Array([1]));
    await backend.close();
    await backend.destroy();
    expect(readFileSync(log, "utf8")).toMatch(/^rcd --rc-addr 127\.0\.0\.1:0 --rc-htpasswd \S+\/htpasswd --rc-serve/m);
  });

  it("rclone versions before 1.57.0 are refused (the rc API this backend needs)", () => {
    expect(isSupportedRcloneVersion([1, 56, 2])).toBe(false);
    expect(isSupportedRcloneVersion([1, 45])).toBe(false);
    expect(isSupportedRcloneVersion([0, 99, 0])).toBe(false);
    expect(isSupportedRcloneVersion([1, 57, 0])).toBe(true);
    expect(isSupportedRcloneVersion([1, 60, 1])).toBe(true);
    expect(isSupportedRcloneVersion([2, 0, 0])).toBe(true);
  });
});
