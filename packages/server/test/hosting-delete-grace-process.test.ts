import { spawnSync } from "node:child_process";
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { requireReferencePeer, runReferencePython } from "@borgstore/testkit";
import { afterAll, describe, expect, it } from "vitest";
import { KEPT_ITEM_MIN_BYTES, KeptArea, keptCharge } from "../src/hosting/delete-grace-area.js";
import { CLI, tempDir } from "./helpers.js";
import { type HostingProcess, listenHosting, rawRequest, startHosting, writeHostingConfig, writeHtpasswd } from "./hosting-helpers.js";

const dir = tempDir("borgstore-delete-grace-process-");
afterAll(() => dir.remove());
let cells = 0;
const ALICE = "alice:apw";
const peer = requireReferencePeer("the reference's Python client through a repository with delete grace", ["requests"]);

function host(repositories: string): { folder: string; config: string; area: KeptArea } {
  const folder = join(dir.path, `host${++cells}`);
  mkdirSync(folder);
  writeHtpasswd(join(folder, "htpasswd"), { alice: "apw" });
  const config = writeHostingConfig(folder, `file://${folder}/repos/{user}/{repo}`, "", repositories);
  return { folder, config, area: KeptArea.under(join(folder, "state")) };
}

const request = (server: HostingProcess, method: string, path: string, body?: Buffer) =>
  rawRequest(server.port, method, `/alice/${path}`, { login: ALICE, body });
const usage = async (server: HostingProcess) => (JSON.parse((await request(server, "POST", "r/?cmd=quota")).body) as { usage: number }).usage;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A value that says how long it is: a torn copy or store shows. */
function value(id: string, length: number): string {
  const head = `${id}|${length}|`;
  return head + "x".repeat(Math.max(0, length - head.length));
}
const whole = (text: string) => text.length === Number(text.split("|")[1]);

function cli(config: string, ...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const run = spawnSync(process.execPath, [CLI, "--config", config, ...args], { encoding: "utf8" });
  return { status: run.status, stdout: run.stdout, stderr: run.stderr };
}

describe("delete grace in a server process", () => {
  it("SIGKILL during overwrites and deletes: nothing acknowledged is lost (current or kept), nothing torn, no kept item visible, and the purge still works", async () => {
    const { config, area } = host('delete_grace = "1h"\nquota = "1G"');
    const names = ["data/c0", "data/c1", "data/c2", "archives/c3", "config/c4"];
    const acknowledged = new Set<string>();
    let server = await startHosting(config);
    expect((await request(server, "POST", "r/?cmd=create")).status).toBe(200);
    for (let round = 0; round < 2; round++) {
      let stop = false;
      const client = async (c: number) => {
        for (let i = 0; !stop; i++) {
          const name = names[(c * 7 + i) % names.length] as string;
          try {
            if (i % 4 === 3) await request(server, "DELETE", `r/${name}`);
            else {
              const text = value(`${name}:${round}:${c}:${i}`, 1000 + ((c * 7919 + i * 104729) % 60_000));
              if ((await request(server, "POST", `r/${name}`, Buffer.from(text))).status === 200) acknowledged.add(text);
            }
          } catch {
            // The connection died with the server: not acknowledged.
          }
        }
      };
      const clients = Array.from({ length: 4 }, (_, c) => client(c));
      await sleep(150 + Math.floor(Math.random() * 300));
      server.child.kill("SIGKILL");
      await server.exited;
      stop = true;
      await Promise.all(clients);
      server = await startHosting(config);
      const kept = new Map<string, string>();
      for (const item of await area.list("alice", "r")) kept.set(item.file, readFileSync(item.file, "utf8"));
      const found = new Set(kept.values());
      let currentBytes = 0;
      for (const name of names) {
        const current = await request(server, "GET", `r/${name}`);
        if (current.status === 404) continue;
        expect(current.status).toBe(200);
        expect(whole(current.body), `${name} torn`).toBe(true);
        found.add(current.body);
        currentBytes += current.bytes.byteLength;
      }
      for (const text of kept.values()) expect(whole(text), "a kept value is torn").toBe(true);
      for (const text of acknowledged) expect(found.has(text), `${text.slice(0, 30)} lost`).toBe(true);
      // The client sees its own names only: no kept or temp file in any listing.
      for (const ns of ["", "data/", "archives/", "config/"]) {
        const list = await request(server, "GET", `r/${ns}`);
        expect(list.bytes.includes(".tmp"), list.body).toBe(false);
        expect(list.bytes.includes("delete-grace"), list.body).toBe(false);
      }
      // Measured again after the crash: the stored values and the kept ones, each kept one counted
      // as it was charged (at least KEPT_ITEM_MIN_BYTES).
      let keptBytes = 0;
      for (const text of kept.values()) keptBytes += keptCharge(Buffer.byteLength(text));
      expect(await usage(server)).toBe(currentBytes + keptBytes);
    }
    expect(acknowledged.size).toBeGreaterThan(0);
    expect(await server.stop()).toBe(0);
    // The same kept area under a short grace: the purge after a crash removes them all, and their bytes.
    writeFileSync(config, readFileSync(config, "utf8").replace('delete_grace = "1h"', 'delete_grace = "1s"'));
    server = await startHosting(config);
    try {
      const deadline = Date.now() + 10_000;
      while ((await area.list("alice", "r")).length > 0 && Date.now() < deadline) await sleep(100);
      expect(await area.list("alice", "r")).toEqual([]);
      let currentBytes = 0;
      for (const name of names) {
        const current = await request(server, "GET", `r/${name}`);
        if (current.status === 200) currentBytes += current.bytes.byteLength;
      }
      expect(await usage(server)).toBe(currentBytes);
    } finally {
      await server.stop();
    }
  }, 60_000);

  it("--kept lists what was kept, --restore --since puts back the values held then (and keeps what it replaces); the restarted server measures the repository again", async () => {
    const { folder, config, area } = host('delete_grace = "1h"\nquota = "1G"');
    // In this process (the command line is what is tested here): SIGTERM's shutdown, as the CLI does it.
    let { hosting, port } = await listenHosting(config);
    const call = (method: string, path: string, body?: string) =>
      rawRequest(port, method, `/alice/${path}`, { login: ALICE, body: body === undefined ? undefined : Buffer.from(body) });
    await call("POST", "r/?cmd=create");
    await call("POST", "r/data/a", "good a");
    await call("POST", "r/data/b", "good b");
    await call("POST", "r/data/a", "older a");
    await sleep(20);
    const since = new Date().toISOString();
    await sleep(20);
    // What an attacker with the owner's password does: overwrite, delete, add.
    await call("POST", "r/data/a", "encrypted a");
    await call("POST", "r/data/a", "encrypted a, again");
    await call("DELETE", "r/data/b");
    await call("POST", "r/data/c", "ransom note");
    await hosting.shutdown();
    const listed = cli(config, "--kept", "alice/r");
    expect(listed.status, listed.stderr).toBe(0);
    expect(listed.stdout.trim().split("\n").map((line) => line.split("\t").slice(1))).toEqual([
      ["overwrite", "6", "data/a"],
      ["overwrite", "7", "data/a"],
      ["overwrite", "11", "data/a"],
      ["delete", "6", "data/b"],
    ]);
    expect(cli(config, "--restore", "alice/r").stderr).toMatch(/--restore needs --since TIME/);
    const restored = cli(config, "--restore", "alice/r", "--since", since);
    expect(restored.status, restored.stderr).toBe(0);
    expect(restored.stdout).toMatch(/restored\tdata\/a\t7\t[\s\S]*restored\tdata\/b\t6\t/);
    ({ hosting, port } = await listenHosting(config));
    try {
      expect((await call("GET", "r/data/a")).body).toBe("older a");
      expect((await call("GET", "r/data/b")).body).toBe("good b");
      expect((await call("GET", "r/data/c")).body).toBe("ransom note");
      // The restore replaced "encrypted a, again": kept in its turn.
      expect((await area.list("alice", "r")).map((item) => [item.reason, item.size, item.name]).at(-1)).toEqual(["overwrite", 18, "data/a"]);
      expect(readdirSync(join(folder, "repos/alice/r/data")).sort()).toEqual(["a", "b", "c"]);
      const figures = JSON.parse((await call("POST", "r/?cmd=quota")).body) as { usage: number };
      // Five kept items (of 6, 7, 11, 6 and 18 bytes), each counted as KEPT_ITEM_MIN_BYTES.
      expect(figures.usage).toBe("older a".length + "good b".length + "ransom note".length + 5 * KEPT_ITEM_MIN_BYTES);
    } finally {
      await hosting.shutdown();
    }
  }, 30_000);

  it.skipIf(!peer)("the unmodified Python client stores, overwrites, soft-deletes and deletes as without grace; the server kept what went away", async () => {
    const { config, area } = host('delete_grace = "1h"');
    const server = await startHosting(config);
    try {
      const code = `
import sys
from borgstore.store import Store
store = Store(sys.argv[1], config={"data/": {"levels": [0]}})
store.create()
with store:
    store.store("data/x", b"first")
    store.store("data/x", b"second")
    store.move("data/x", delete=True)
    assert [i.name for i in store.list("data")] == []
    assert [i.name for i in store.list("data", deleted=True)] == ["x"]
    store.move("data/x", undelete=True)
    assert store.load("data/x") == b"second"
    store.delete("data/x")
    assert [i.name for i in store.list("data")] == []
    store.store("data/y", b"kept")
    print("ok")
`;
      const run = await runReferencePython(peer as NonNullable<typeof peer>, code, {
        args: [`http://alice:apw@127.0.0.1:${server.port}/alice/py/`],
        timeoutMs: 60_000,
      });
      expect(run.status, run.stderr.toString()).toBe(0);
      expect(run.stdout.toString()).toContain("ok");
      const kept = await area.list("alice", "py");
      expect(kept.map((item) => [item.name, item.reason, readFileSync(item.file, "utf8")])).toEqual([
        ["data/x", "overwrite", "first"],
        ["data/x", "delete", "second"],
      ]);
    } finally {
      expect(await server.stop()).toBe(0);
    }
  }, 60_000);
});
