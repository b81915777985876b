import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import type { HostingServer } from "../src/hosting/hosting-server.js";
import { tempDir } from "./helpers.js";
import { listenHosting, rawRequest, writeHostingConfig, writeHtpasswd } from "./hosting-helpers.js";

const dir = tempDir("borgstore-hosting-idle-");
afterAll(() => dir.remove());

const LOGIN = "alice:apw";
const USER_QUOTA = 10_000;

async function start(folder: string): Promise<{ hosting: HostingServer; port: number }> {
  const config = writeHostingConfig(folder, `file://${folder}/repos/{user}/{repo}`, `[users.alice]\nquota = ${USER_QUOTA}`);
  return listenHosting(config, { idleMs: 100, maxIdle: 1 });
}

async function usage(port: number, repo: string): Promise<number> {
  const answer = await rawRequest(port, "POST", `/alice/${repo}/?cmd=quota`, { login: LOGIN });
  return (JSON.parse(answer.body) as { usage: number }).usage;
}

const store = (port: number, repo: string, name: string, bytes: number) =>
  rawRequest(port, "POST", `/alice/${repo}/data/${name}`, { login: LOGIN, body: Buffer.alloc(bytes, 7) });

describe("hosting: repositories that do not exist or sit idle", () => {
  it("requests to many distinct nonexistent repositories leave nothing behind; idle ones are closed and the user's quota stays exact when they are reopened", async () => {
    const folder = join(dir.path, "phantoms");
    mkdirSync(folder);
    writeHtpasswd(join(folder, "htpasswd"), { alice: "apw" });
    let { hosting, port } = await start(folder);
    const repos = ["r0", "r1", "r2", "r3"];
    for (const repo of [...repos, "r4"]) expect((await rawRequest(port, "POST", `/alice/${repo}/?cmd=create`, { login: LOGIN })).status).toBe(200);
    for (const repo of repos) expect((await store(port, repo, "a", 1000)).status).toBe(200);

    // 300 distinct names that do not exist, 10 at a time, with every kind of request.
    for (let i = 0; i < 300; i += 10) {
      await Promise.all(
        Array.from({ length: 10 }, async (_, j) => {
          const n = i + j;
          const kind = n % 3;
          const answer =
            kind === 0
              ? await rawRequest(port, "GET", `/alice/nx${n}/config/x`, { login: LOGIN })
              : kind === 1
                ? await store(port, `nx${n}`, "x", 10)
                : await rawRequest(port, "POST", `/alice/nx${n}/?cmd=quota`, { login: LOGIN });
          expect(answer.status).toBeGreaterThanOrEqual(400);
        }),
      );
    }
    const counts = await hosting.repositories.counts();
    expect(counts.tracked).toBe(5);
    expect(counts.open).toBeLessThanOrEqual(1);

    // Concurrent stores and reads over repositories that are closed and reopened all the while (maxIdle 1).
    await Promise.all(
      Array.from({ length: 24 }, async (_, c) => {
        const repo = repos[c % repos.length] as string;
        expect((await store(port, repo, `c${c}`, 100)).status).toBe(200);
        expect((await rawRequest(port, "GET", `/alice/${repo}/data/c${c}`, { login: LOGIN })).status).toBe(200);
      }),
    );
    await new Promise((resolve) => setTimeout(resolve, 400));
    expect((await hosting.repositories.counts()).open).toBe(0);
    // Without a repository quota the answer is the user's usage over all repositories.
    for (const repo of repos) expect(await usage(port, repo)).toBe(4 * (1000 + 6 * 100));
    // 6400 used of 10000: 3600 more fit into the fifth repository, one byte more does not.
    expect((await store(port, "r4", "big", 3600)).status).toBe(200);
    expect((await store(port, "r0", "one", 1)).status).toBe(507);

    await hosting.shutdown();
    ({ hosting, port } = await start(folder));
    expect((await store(port, "r1", "one", 1)).status).toBe(507);
    expect(await usage(port, "r4")).toBe(USER_QUOTA);
    expect((await rawRequest(port, "DELETE", "/alice/r4/data/big", { login: LOGIN })).status).toBe(200);
    await new Promise((resolve) => setTimeout(resolve, 400));
    expect((await store(port, "r2", "fits", 3600)).status).toBe(200);
    expect((await store(port, "r3", "one", 1)).status).toBe(507);
    await hosting.shutdown();
  }, 60_000);
});
