import { existsSync, mkdirSync, readFileSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { tempName } from "@borgstore/core/backend";
import fc from "fast-check";
import { afterAll, describe, expect, it } from "vitest";
import { HostingConfigError, parseHostingConfig } from "../src/hosting/config.js";
import { KeptArea } from "../src/hosting/delete-grace-area.js";
import { DeleteGraceService } from "../src/hosting/delete-grace.js";
import { DEFAULT_PROTECTED, deleteGraceOf } from "../src/hosting/delete-grace-config.js";
import type { HostingServer } from "../src/hosting/hosting-server.js";
import { tempDir } from "./helpers.js";
import { listenHosting, rawRequest, writeHostingConfig, writeHtpasswd } from "./hosting-helpers.js";

const dir = tempDir("borgstore-delete-grace-");
afterAll(() => dir.remove());
let cells = 0;

const ALICE = "alice:apw";

interface Host {
  hosting: HostingServer;
  port: number;
  area: KeptArea;
  folder: string;
  request(method: string, path: string, body?: Buffer): Promise<{ status: number; body: string; bytes: Buffer }>;
  kept(repo?: string): Promise<Array<{ name: string; reason: string; value: string; keptAt: number }>>;
  close(): Promise<void>;
}

/** A hosting server in this process with `repositories` added to [repositories] and alice's repo "r" created. */
async function host(repositories: string, extra = ""): Promise<Host> {
  const folder = join(dir.path, `host${++cells}`);
  mkdirSync(folder);
  writeHtpasswd(join(folder, "htpasswd"), { alice: "apw" });
  const config = writeHostingConfig(folder, `file://${folder}/repos/{user}/{repo}`, extra, repositories);
  const { hosting, port } = await listenHosting(config);
  const area = KeptArea.under(join(folder, "state"));
  const request = (method: string, path: string, body?: Buffer) => rawRequest(port, method, `/alice/${path}`, { login: ALICE, body });
  expect((await request("POST", "r/?cmd=create")).status).toBe(200);
  return {
    hosting,
    port,
    area,
    folder,
    request,
    // The purge timer may remove an item between the listing and the read: it is then no longer kept.
    kept: async (repo = "r") =>
      (await area.list("alice", repo)).flatMap((item) => {
        const value = readIfThere(item.file);
        return value === undefined ? [] : [{ name: item.name, reason: item.reason, keptAt: item.keptAt, value }];
      }),
    close: () => hosting.shutdown(),
  };
}

const store = (h: Host, name: string, value: string) => h.request("POST", `r/${name}`, Buffer.from(value));

describe("delete grace (hosting mode)", () => {
  it("reads delete_grace and protect from [repositories], [users.X] and [repos.\"X/Y\"], the most specific first, and refuses what does not parse", () => {
    const base = (extra: string, repositories = "") =>
      `htpasswd = "h"\n[listen]\nport = 1\n[repositories]\nbackend = "file:///b/{user}/{repo}"\n${repositories}\n${extra}`;
    const config = parseHostingConfig(
      base(
        '[users.bob]\ndelete_grace = "10s"\n[repos."bob/open"]\ndelete_grace = "off"\n[repos."carol/all"]\nprotect = ["", "data"]',
        'delete_grace = "30d"\nprotect = ["data/", "archives"]',
      ),
      dir.path,
    );
    expect(deleteGraceOf(config, "alice", "laptop")).toEqual({ graceMs: 30 * 86_400_000, protect: ["data/", "archives/"] });
    expect(deleteGraceOf(config, "bob", "laptop")).toEqual({ graceMs: 10_000, protect: ["data/", "archives/"] });
    expect(deleteGraceOf(config, "bob", "open")).toBeUndefined();
    expect(deleteGraceOf(config, "carol", "all")).toEqual({ graceMs: 30 * 86_400_000, protect: ["", "data/"] });
    const unset = parseHostingConfig(base('[users.dave]\ndelete_grace = "2h"'), dir.path);
    expect(deleteGraceOf(unset, "alice", "laptop")).toBeUndefined();
    expect(deleteGraceOf(unset, "dave", "x")).toEqual({ graceMs: 7_200_000, protect: DEFAULT_PROTECTED });
    const refused = (text: string) => {
      try {
        parseHostingConfig(text, dir.path);
      } catch (err) {
        expect(err).toBeInstanceOf(HostingConfigError);
        return (err as Error).message;
      }
      throw new Error("accepted");
    };
    expect(refused(base("", 'delete_grace = "30 days"'))).toMatch(/repositories\.delete_grace: a grace is a whole number of s, m, h or d/);
    expect(refused(base("", 'delete_grace = "0s"'))).toMatch(/repositories\.delete_grace: /);
    expect(refused(base("", 'delete_grace = "3651d"'))).toMatch(/up to 3650d/);
    expect(refused(base('[users.bob]\nprotect = ["../x"]'))).toMatch(/users\.bob\.protect\.0: a protected namespace/);
    expect(refused(base('[repos."a/b"]\ndelete_grace = 5'))).toMatch(/repos\."a\/b"\.delete_grace: /);
  });

  it("keeps a deleted item where no client sees it, and purges it once its grace has passed, never earlier", async () => {
    const h = await host('delete_grace = "1s"');
    try {
      expect((await store(h, "data/gone1", "first value")).status).toBe(200);
      expect((await h.request("DELETE", "r/data/gone1")).status).toBe(200);
      // The client sees exactly what it would without grace.
      expect((await h.request("GET", "r/data/gone1")).status).toBe(404);
      expect((await h.request("HEAD", "r/data/gone1")).status).toBe(404);
      expect((await h.request("DELETE", "r/data/gone1")).status).toBe(404);
      expect((await h.request("GET", "r/data/")).bytes.includes("gone1")).toBe(false);
      const [kept] = await h.kept();
      expect(kept).toMatchObject({ name: "data/gone1", reason: "delete", value: "first value" });
      const keptAt = (kept as { keptAt: number }).keptAt;
      let purgedAt = 0;
      while (Date.now() < keptAt + 15_000) {
        if ((await h.kept()).length === 0) {
          purgedAt = Date.now();
          break;
        }
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      expect(purgedAt, "purged within 15 s").toBeGreaterThan(0);
      expect(purgedAt - keptAt).toBeGreaterThanOrEqual(1000);
    } finally {
      await h.close();
    }
  }, 30_000);

  it("keeps the value an overwrite replaces, and one moved onto or out of the protected namespaces; a soft delete keeps nothing until the deleted item is deleted", async () => {
    const h = await host('delete_grace = "1h"');
    try {
      await store(h, "data/over", "v1");
      await store(h, "data/over", "v2");
      expect((await h.request("GET", "r/data/over")).body).toBe("v2");
      await store(h, "data/src", "moved over");
      await store(h, "data/dst", "replaced by a move");
      expect((await h.request("POST", "r/?cmd=move&current=data/src&new=data/dst")).status).toBe(200);
      await store(h, "data/out", "moved out");
      expect((await h.request("POST", "r/?cmd=move&current=data/out&new=cache/out")).status).toBe(200);
      // Soft delete as borg's Store does it: a move to name.del in the same namespace.
      await store(h, "data/soft", "soft deleted");
      expect((await h.request("POST", "r/?cmd=move&current=data/soft&new=data/soft.del")).status).toBe(200);
      // Namespaces borg rebuilds (locks/, cache/) are not protected by default.
      await store(h, "locks/l1", "lock");
      expect((await h.request("DELETE", "r/locks/l1")).status).toBe(200);
      expect((await h.request("DELETE", "r/cache/out")).status).toBe(200);
      // A failed change keeps nothing: a move of a missing name, a delete of a missing name.
      expect((await h.request("POST", "r/?cmd=move&current=data/none&new=data/dst")).status).toBe(404);
      expect((await h.kept()).map(({ name, reason, value }) => [name, reason, value])).toEqual([
        ["data/over", "overwrite", "v1"],
        ["data/dst", "overwrite", "replaced by a move"],
        // Moved to another protected name: kept under the name it had, so a restore puts it back there.
        ["data/src", "move", "moved over"],
        ["data/out", "move", "moved out"],
      ]);
      expect((await h.request("DELETE", "r/data/soft.del")).status).toBe(200);
      expect((await h.kept()).at(-1)).toMatchObject({ name: "data/soft.del", reason: "delete", value: "soft deleted" });
    } finally {
      await h.close();
    }
  });

  it("refuses to destroy a repository with a grace (403) and leaves it whole", async () => {
    const h = await host('delete_grace = "1h"');
    try {
      await store(h, "data/keep", "still here");
      expect((await h.request("DELETE", "r/?cmd=destroy")).status).toBe(403);
      expect((await h.request("GET", "r/data/keep")).body).toBe("still here");
    } finally {
      await h.close();
    }
  });

  it("keeps nothing where the grace is off: per repository, or not configured at all (until a reload turns it on)", async () => {
    const h = await host('delete_grace = "1h"', '[repos."alice/off"]\ndelete_grace = "off"');
    try {
      expect((await h.request("POST", "off/?cmd=create")).status).toBe(200);
      await h.request("POST", "off/data/x", Buffer.from("a"));
      await h.request("POST", "off/data/x", Buffer.from("b"));
      expect((await h.request("DELETE", "off/data/x")).status).toBe(200);
      expect(await h.kept("off")).toEqual([]);
      // Destroy works as without grace.
      expect((await h.request("DELETE", "off/?cmd=destroy")).status).toBe(200);
    } finally {
      await h.close();
    }
    const plain = await host("");
    try {
      await store(plain, "data/x", "a");
      expect((await plain.request("DELETE", "r/data/x")).status).toBe(200);
      expect(await plain.kept()).toEqual([]);
      // Turned on by a reload: the next change of the open repository is kept.
      const config = join(plain.folder, "hosting.toml");
      writeFileSync(config, readFileSync(config, "utf8").replace("[repositories]\n", '[repositories]\ndelete_grace = "1h"\n'));
      await plain.hosting.reload();
      await store(plain, "data/x", "b");
      expect((await plain.request("DELETE", "r/data/x")).status).toBe(200);
      expect((await plain.kept()).map((item) => item.value)).toEqual(["b"]);
    } finally {
      await plain.close();
    }
  });

  it("counts kept bytes against the quota: overwriting again and again, or moving out and back, ends in 507, and the purge gives the bytes back", async () => {
    const h = await host('delete_grace = "1h"\nquota = 20480');
    const usage = async () => (JSON.parse((await h.request("POST", "r/?cmd=quota")).body) as { usage: number }).usage;
    try {
      // Values of 4 KiB (KEPT_ITEM_MIN_BYTES): kept, each counts at its own size.
      const statuses: number[] = [];
      for (let i = 0; i < 8; i++) statuses.push((await store(h, "data/same", String(i).repeat(4096))).status);
      // 4096 current + kept ones: the fifth overwrite would make 20480 + 4096.
      expect(statuses).toEqual([200, 200, 200, 200, 200, 507, 507, 507]);
      expect(await usage()).toBe(20_480);
      expect((await h.kept()).length).toBe(4);
      // A delete of a value of 4 KiB or more is never refused for the quota: it adds nothing (the kept value replaces the stored one).
      expect((await h.request("DELETE", "r/data/same")).status).toBe(200);
      expect(await usage()).toBe(20_480);
      // The purge an hour from now (the timer's own purge is tested above).
      const grace = new DeleteGraceService(() => h.hosting.config());
      await grace.purge(h.hosting.repositories, Date.now() + 3_600_001);
      expect(await usage()).toBe(0);
      expect(await h.kept()).toEqual([]);
      // Moving out of protection keeps a copy while the value stays: it must fit the quota.
      await store(h, "data/m", "m".repeat(8000));
      let refused = 0;
      for (let i = 0; i < 4 && refused === 0; i++) {
        const out = await h.request("POST", "r/?cmd=move&current=data/m&new=cache/m");
        if (out.status === 507) refused++;
        else {
          expect(out.status).toBe(200);
          expect((await h.request("POST", "r/?cmd=move&current=cache/m&new=data/m")).status).toBe(200);
        }
      }
      expect(refused).toBe(1);
      expect(await usage()).toBeLessThanOrEqual(20_480);
    } finally {
      await h.close();
    }
  }, 30_000);

  it("loses no version when several clients overwrite and delete the same names at once: every acknowledged value is current or kept", async () => {
    const h = await host('delete_grace = "1h"');
    try {
      const acknowledged = new Map<string, Set<string>>();
      const names = ["data/n0", "data/n1", "data/n2", "archives/n3"];
      await Promise.all(
        Array.from({ length: 8 }, async (_, c) => {
          for (let i = 0; i < 12; i++) {
            const name = names[(c + i) % names.length] as string;
            if (i % 5 === 4) {
              const answer = await h.request("DELETE", `r/${name}`);
              expect([200, 404]).toContain(answer.status);
              continue;
            }
            const value = `client ${c} write ${i} of ${name}`;
            const answer = await store(h, name, value);
            expect(answer.status).toBe(200);
            let set = acknowledged.get(name);
            if (!set) acknowledged.set(name, (set = new Set()));
            set.add(value);
          }
        }),
      );
      const kept = await h.kept();
      for (const [name, values] of acknowledged) {
        const current = await h.request("GET", `r/${name}`);
        const found = new Set(kept.filter((item) => item.name === name).map((item) => item.value));
        if (current.status === 200) found.add(current.body);
        for (const value of values) expect(found.has(value), `${value} lost`).toBe(true);
        // Nothing kept twice: each replaced version once.
        expect(kept.filter((item) => item.name === name).length).toBe(new Set(kept.filter((item) => item.name === name).map((i) => i.value)).size);
      }
    } finally {
      await h.close();
    }
  });

  it("the purge removes temp files of copies a crash left behind once they are a minute old, even where nothing is due", async () => {
    const h = await host('delete_grace = "1h"');
    try {
      await store(h, "data/t", "one");
      await store(h, "data/t", "two");
      const folder = h.area.folder("alice", "r");
      const fresh = join(folder, tempName());
      const stale = join(folder, tempName());
      writeFileSync(fresh, "half");
      writeFileSync(stale, "half");
      utimesSync(stale, new Date(Date.now() - 120_000), new Date(Date.now() - 120_000));
      await new DeleteGraceService(() => h.hosting.config()).purge(h.hosting.repositories);
      expect(existsSync(stale)).toBe(false);
      expect(existsSync(fresh)).toBe(true);
      expect((await h.kept()).map((item) => item.value)).toEqual(["one"]);
    } finally {
      await h.close();
    }
  });

  it("orders kept values by the change that replaced them, also within one millisecond", async () => {
    const area = new KeptArea(join(dir.path, "order-area"));
    async function* bytes(text: string) {
      yield Buffer.from(text);
    }
    const times: number[] = [];
    for (let i = 0; i < 20; i++) times.push(((await area.keep("alice", "r", "data/x", "overwrite", async () => bytes(String(i)))) as { keptAt: number }).keptAt);
    for (let i = 1; i < times.length; i++) expect(times[i]).toBeGreaterThan(times[i - 1] as number);
    expect((await area.list("alice", "r")).map((item) => readFileSync(item.file, "utf8"))).toEqual(times.map((_, i) => String(i)));
    // Started in the same millisecond (changes of different names): still one time each.
    const together = await Promise.all(Array.from({ length: 20 }, (_, i) => area.keep("alice", "r2", `data/y${i}`, "delete", async () => bytes("y"))));
    expect(new Set(together.map((item) => item?.keptAt)).size).toBe(20);
  });

  it("no request path, name, move or encoding reaches the kept area (fast-check over hostile targets)", async () => {
    const h = await host('delete_grace = "1h"');
    try {
      const secret = "KEPT-SECRET-0123456789";
      await store(h, "data/secret", secret);
      expect((await h.request("DELETE", "r/data/secret")).status).toBe(200);
      const [kept] = await h.area.list("alice", "r");
      const file = (kept as { file: string }).file;
      const fileName = file.slice(file.lastIndexOf("/") + 1);
      const pieces = [
        "..", "%2e%2e", "%2E%2E", ".", "%2e", "_delete-grace", "%5fdelete-grace", "state", "alice", "r", "data", "secret",
        "secret.del", "%2f", "%5c", "", fileName, `.tmp-${fileName}`, Buffer.from("data/secret").toString("base64url"), "uploads.hid", "~", "%00",
      ];
      const path = fc.array(fc.constantFrom(...pieces), { minLength: 1, maxLength: 7 }).map((parts) => parts.join("/"));
      const target = fc.oneof(
        fc.tuple(fc.constantFrom("GET", "HEAD", "DELETE", "POST"), fc.constantFrom("/alice/r/", "/alice/", "/", "/alice/r/data/"), path).map(
          ([method, prefix, rest]) => ({ method, target: prefix + rest }),
        ),
        fc.tuple(path, path).map(([current, next]) => ({ method: "POST", target: `/alice/r/?cmd=move&current=${current}&new=${next}` })),
      );
      await fc.assert(
        fc.asyncProperty(target, async ({ method, target }) => {
          const answer = await rawRequest(h.port, method, target, { login: ALICE, body: method === "POST" ? Buffer.from("x") : undefined });
          expect(answer.status, `${method} ${target}`).toBeGreaterThan(0);
          expect(answer.body.includes(secret), `${method} ${target}`).toBe(false);
        }),
        { numRuns: 300 },
      );
      // Whatever was stored, moved or deleted meanwhile: the kept value is as it was.
      expect(readFileSync(file, "utf8")).toBe(secret);
    } finally {
      await h.close();
    }
  }, 30_000);
});

function readIfThere(file: string): string | undefined {
  try {
    return readFileSync(file, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw err;
  }
}
