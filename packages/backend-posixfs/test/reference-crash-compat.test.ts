import { spawn } from "node:child_process";
import { mkdir, readFile, readdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { PosixFsBackend } from "@borgstore/backend-posixfs";
import { requireReferencePeer, runReferencePython } from "@borgstore/testkit";
import { describe, expect, it } from "vitest";
import { newBackend } from "./helpers.js";

const peer = requireReferencePeer("posixfs crash leftovers read by the Python reference");
const quotaWriter = fileURLToPath(new URL("./fixtures/quota-crash-writer.mjs", import.meta.url));
const QUOTA = 1_000_000;

/** Runs a fixture until it prints `word`, then SIGKILLs it. */
function runUntil(args: string[], word: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "inherit"] });
    let out = "";
    child.stdout?.on("data", (d) => {
      out += d;
      if (out.includes(word)) child.kill("SIGKILL");
    });
    child.once("exit", (_code, signal) => (signal === "SIGKILL" ? resolve() : reject(new Error(`fixture ended before "${word}"`))));
  });
}

const PYTHON = `
import json, sys
from borgstore.backends.posixfs import PosixFS
b = PosixFS(sys.argv[1], quota=int(sys.argv[2]))
b.open()
root = sorted(i.name for i in b.list(""))
names = sorted(i.name for i in b.list("q"))
sizes = sum(len(b.load("q/" + n)) for n in names)
usage_at_open = b.quota()["usage"]
b.store("py/one", b"x" * 1000)
b.close()
print(json.dumps(dict(root=root, count=len(names), sizes=sizes, usage_at_open=usage_at_open)))
`;

describe.runIf(peer)("a store a SIGKILL left behind, shared with the Python reference", () => {
  it("the reference lists only objects (journal and uploads.hid hidden), loads them and keeps its quota count; our next open adds the dead session's journal on top", async () => {
    const setup = newBackend();
    await setup.create();
    const base = setup.base;
    await runUntil([quotaWriter, base, String(QUOTA), String(16 * 1024), "q"], "full");
    await mkdir(join(base, "uploads.hid"), { recursive: true });
    // What a writer killed mid-upload leaves (kill-mid-write.test.ts makes real ones).
    await writeFile(join(base, "uploads.hid", "tmpdeadbeef.tmp"), new Uint8Array(4096));
    const leftovers = await readdir(base);
    expect(leftovers.filter((n) => n.startsWith("quota-session-"))).toHaveLength(1);
    // The killed writer's lock file (uploads.hid/<owner>.lock) and the orphaned temp file.
    expect(await readdir(join(base, "uploads.hid"))).toHaveLength(2);

    const py = await runReferencePython(peer as NonNullable<typeof peer>, PYTHON, { args: [base, String(10 * QUOTA)] });
    expect(py.stderr).toBe("");
    const seen = JSON.parse(py.stdout.toString());
    expect(seen.root).toEqual(["q"]);
    expect(seen.sizes).toBe(seen.count * 16 * 1024);
    // The reference does not know the journal: it adds its own store to what quota.hid says.
    expect(Number(await readFile(join(base, "quota.hid"), "latin1"))).toBe(seen.usage_at_open + 1000);

    const ours = new PosixFsBackend({ path: base, quota: 10 * QUOTA });
    await ours.open();
    expect((await ours.quota()).usage).toBeGreaterThanOrEqual(seen.sizes + 1000);
    expect((await ours.quota()).usage).toBeLessThanOrEqual(seen.sizes + 1000 + 16 * 1024);
    await ours.close();
    expect(await readdir(base)).not.toContain("uploads.hid");
    expect((await readdir(base)).filter((n) => n.startsWith("quota-session-"))).toEqual([]);
  }, 30_000);
});
