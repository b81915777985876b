import { mkdir, mkdtemp, readdir, rename, rm, utimes, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startRestServer } from "./cli-process.js";
import { runCli } from "./run-cli.js";

const KEY = "0123456789abcdef";
const LONG_AGO = new Date(Date.now() - 24 * 3600 * 1000);

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "borgstore-cli-check-"));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

/** A posixfs store with one well-nested object in data/ and config/main. */
async function storeWithObjects(name: string): Promise<{ url: string; path: string }> {
  const path = join(dir, name);
  const url = pathToFileURL(path).href;
  expect((await runCli([url, "create"])).code).toBe(0);
  expect((await runCli([url, "put", `data/${KEY}`, "-"], { input: Buffer.from("chunk") })).code).toBe(0);
  expect((await runCli([url, "put", "config/main", "-"], { input: Buffer.from("cfg") })).code).toBe(0);
  return { url, path };
}

describe("borgstore check", () => {
  it("finds nothing wrong in a store written through the CLI and exits 0", async () => {
    const { url } = await storeWithObjects("clean");
    const r = await runCli([url, "check"]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout.toString()).toBe("2 objects checked, 0 problems left, 0 repaired\n");
  });

  it("reports a misnested object, an orphaned temp file and an unknown file (exit 15); --repair removes the temp file only", async () => {
    const { url, path } = await storeWithObjects("damaged");
    await mkdir(join(path, "data/ab/cd"), { recursive: true });
    await rename(join(path, `data/01/23/${KEY}`), join(path, `data/ab/cd/${KEY}`));
    await writeFile(join(path, "data/01/23/tmpk1ll3d__.tmp"), Buffer.alloc(2048));
    await utimes(join(path, "data/01/23/tmpk1ll3d__.tmp"), LONG_AGO, LONG_AGO);
    await writeFile(join(path, "config/NOTES.txt"), "hand-made");
    const check = await runCli([url, "check"]);
    expect(check.code).toBe(15);
    expect(check.stdout.toString().split("\n")).toEqual([
      "unknown file: config/NOTES.txt (9 B)",
      "orphaned temp file: data/01/23/tmpk1ll3d__.tmp (2.0 KiB)",
      `misnested object (data/ nests at levels 2): data/ab/cd/${KEY} (5 B)`,
      "2 objects checked, 3 problems left, 0 repaired",
      "",
    ]);
    const repair = await runCli([url, "--json", "check", "--repair"]);
    expect(repair.code).toBe(15);
    const report = JSON.parse(repair.stdout.toString());
    expect(report).toMatchObject({ objects: 2, fileCheck: true, damage: 2, repaired: 1 });
    expect(report.findings).toContainEqual({ path: "data/01/23/tmpk1ll3d__.tmp", size: 2048, problem: "orphaned temp file", removed: true });
    expect(await readdir(join(path, "data/01/23"))).toEqual([]);
    await rm(join(path, "config/NOTES.txt"));
    await rename(join(path, `data/ab/cd/${KEY}`), join(path, `data/01/23/${KEY}`));
    expect((await runCli([url, "check"])).code).toBe(0);
  });

  it("keeps a young temp file (a writer may still be on it) unless --temp-max-age says otherwise", async () => {
    const { url, path } = await storeWithObjects("young");
    await writeFile(join(path, "data/01/23/tmpyoung___.tmp"), "x");
    const r = await runCli([url, "check", "--repair"]);
    expect(r.code).toBe(0);
    expect(r.stdout.toString()).toContain("temp file in use: data/01/23/tmpyoung___.tmp (1 B)\n");
    expect(await readdir(join(path, "data/01/23"))).toContain("tmpyoung___.tmp");
    expect((await runCli([url, "check", "--repair", "--temp-max-age", "0"])).code).toBe(0);
    expect(await readdir(join(path, "data/01/23"))).toEqual([KEY]);
  });

  it("over REST checks nesting through list and says the file check is not supported", async () => {
    const store = join(dir, "rest-store");
    const server = await startRestServer(store, { username: "u", password: "p" });
    try {
      const url = `http://u:p@127.0.0.1:${server.port}/`;
      expect((await runCli([url, "put", `data/${KEY}`, "-"], { input: Buffer.from("chunk") })).code).toBe(0);
      await mkdir(join(store, "data/ff"), { recursive: true });
      await rename(join(store, `data/01/23/${KEY}`), join(store, `data/ff/${KEY}`));
      const r = await runCli([url, "check"]);
      expect(r.code).toBe(15);
      expect(r.stdout.toString()).toBe(
        `misnested object (data/ nests at levels 2): data/ff/${KEY} (5 B)\n` +
          "file check: not supported by this backend (only nesting was checked)\n" +
          "1 objects checked, 1 problems left, 0 repaired\n",
      );
    } finally {
      server.stop();
    }
  });
});
