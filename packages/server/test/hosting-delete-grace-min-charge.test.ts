import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { KEPT_ITEM_MIN_BYTES } from "../src/hosting/delete-grace-area.js";
import { DeleteGraceService } from "../src/hosting/delete-grace.js";
import type { HostingServer } from "../src/hosting/hosting-server.js";
import { tempDir } from "./helpers.js";
import { listenHosting, rawRequest, writeHostingConfig, writeHtpasswd } from "./hosting-helpers.js";

// Breaker BG, finding 5: kept items of empty (or 1-byte) values cost (almost) no quota, so one
// user could fill state_dir with kept files. Each kept item counts as at least KEPT_ITEM_MIN_BYTES.

const QUOTA = 40_960;
const dir = tempDir("borgstore-hosting-grace-min-charge-");
const LOGIN = "alice:apw";
let hosting: HostingServer;
let port: number;

beforeAll(async () => {
  writeHtpasswd(join(dir.path, "htpasswd"), { alice: "apw" });
  const configPath = writeHostingConfig(dir.path, `file://${dir.path}/repos/{user}/{repo}`, "", `delete_grace = "1d"\nquota = ${QUOTA}`);
  ({ hosting, port } = await listenHosting(configPath));
});
afterAll(async () => {
  await hosting?.shutdown(1000);
  dir.remove();
});

const post = (target: string, body?: Uint8Array) => rawRequest(port, "POST", target, { login: LOGIN, ...(body ? { body } : {}) });
const usage = async (repo: string) => (JSON.parse((await post(`/alice/${repo}/?cmd=quota`)).body) as { usage: number }).usage;

function keptCount(repo: string): number {
  const folder = join(dir.path, "state", "_delete-grace", "alice", repo);
  return existsSync(folder) ? readdirSync(folder).filter((entry) => !entry.startsWith(".")).length : 0;
}

async function newRepo(repo: string): Promise<void> {
  expect((await post(`/alice/${repo}/?cmd=create`)).status).toBe(200);
  expect((await post(`/alice/${repo}/data?cmd=mkdir`)).status).toBe(200);
}

describe("delete grace: a kept item counts as at least 4 KiB (breaker BG, finding 5)", () => {
  it("overwriting an empty or 1-byte value again and again ends in 507 after quota / 4 KiB kept items; the purge gives back what was charged", async () => {
    expect(KEPT_ITEM_MIN_BYTES).toBe(4096);
    for (const [repo, value] of [
      ["empty", Buffer.alloc(0)],
      ["onebyte", Buffer.from("x")],
    ] as const) {
      await newRepo(repo);
      const statuses: number[] = [];
      for (let i = 0; i < 40 && !statuses.includes(507); i++) statuses.push((await post(`/alice/${repo}/data/e`, value)).status);
      // The current value counts too: 10 kept items beside an empty value, 9 beside a 1-byte one.
      const kept = Math.floor((QUOTA - value.byteLength) / KEPT_ITEM_MIN_BYTES);
      // The first store keeps nothing; each overwrite after it keeps one item, until the next would not fit.
      expect(statuses).toEqual([...Array(kept + 1).fill(200), 507]);
      expect(keptCount(repo)).toBe(kept);
      expect(await usage(repo)).toBe(value.byteLength + kept * KEPT_ITEM_MIN_BYTES);
      // A delete keeps one more item: only what it counts beyond the value's own bytes must fit.
      // Beside an empty value there is no room left; beside a 1-byte one, exactly 4095 bytes.
      const fits = value.byteLength + kept * KEPT_ITEM_MIN_BYTES + KEPT_ITEM_MIN_BYTES - value.byteLength <= QUOTA;
      expect(fits).toBe(repo === "onebyte");
      expect((await rawRequest(port, "DELETE", `/alice/${repo}/data/e`, { login: LOGIN })).status).toBe(fits ? 200 : 507);
      expect((await rawRequest(port, "GET", `/alice/${repo}/data/e`, { login: LOGIN })).status).toBe(fits ? 404 : 200);
      expect(keptCount(repo)).toBe(fits ? kept + 1 : kept);
      expect(await usage(repo)).toBe(fits ? QUOTA : kept * KEPT_ITEM_MIN_BYTES);
    }
    // The purge a day from now takes off exactly what each kept item was charged.
    // ("empty" still holds its empty value, "onebyte" nothing but kept items.)
    const charged = { empty: await usage("empty"), onebyte: await usage("onebyte") };
    const purged = await new DeleteGraceService(() => hosting.config()).purge(hosting.repositories, Date.now() + 86_400_001);
    expect(purged).toEqual(
      expect.arrayContaining([
        { user: "alice", repo: "empty", bytes: charged.empty },
        { user: "alice", repo: "onebyte", bytes: charged.onebyte },
      ]),
    );
    expect(await usage("empty")).toBe(0);
    expect(await usage("onebyte")).toBe(0);
    expect(keptCount("empty") + keptCount("onebyte")).toBe(0);
  });
});
