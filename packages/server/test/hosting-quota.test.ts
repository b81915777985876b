import { mkdirSync, readdirSync, statSync } from "node:fs";
import { connect } from "node:net";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import type { HostingServer } from "../src/hosting/hosting-server.js";
import { ACCEPT, tempDir } from "./helpers.js";
import { listenHosting, announcedUpload, rawRequest, writeHostingConfig, writeHtpasswd } from "./hosting-helpers.js";

const dir = tempDir("borgstore-hosting-quota-");
afterAll(() => dir.remove());

const USER_QUOTA = 200_000;
const REPO_QUOTA = 80_000;
const REPOS = ["r0", "r1", "r2", "r3"];

/** Bytes of the objects stored under `root` (the store's own hidden files aside). */
function bytesOnDisk(root: string): number {
  let sum = 0;
  for (const name of readdirSync(root)) {
    const path = join(root, name);
    const stat = statSync(path);
    if (stat.isDirectory()) sum += bytesOnDisk(path);
    else if (!name.endsWith(".hid")) sum += stat.size;
  }
  return sum;
}

async function start(folder: string): Promise<{ hosting: HostingServer; port: number }> {
  const config = writeHostingConfig(folder, `file://${folder}/repos/{user}/{repo}`, `[users.alice]\nquota = ${USER_QUOTA}`, `quota = ${REPO_QUOTA}`);
  return listenHosting(config);
}

/** Sends a store's head with `Expect: 100-continue`, then its body only once invited: all that came back. */
function expectContinue(port: number, target: string, size: number): Promise<{ answer: string }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, "127.0.0.1");
    let answer = "";
    socket.setEncoding("latin1");
    socket.on("data", (text: string) => {
      answer += text;
      if (answer === "HTTP/1.1 100 Continue\r\n\r\n") socket.write(Buffer.alloc(size, 5));
    });
    socket.on("error", reject);
    socket.on("close", () => resolve({ answer }));
    const auth = Buffer.from("alice:apw").toString("base64");
    socket.write(
      `POST ${target} HTTP/1.1\r\nHost: h\r\nAccept: ${ACCEPT}\r\nAuthorization: Basic ${auth}\r\nContent-Length: ${size}\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n`,
    );
  });
}

async function usage(port: number, repo: string): Promise<number> {
  const answer = await rawRequest(port, "POST", `/alice/${repo}/?cmd=quota`, { login: "alice:apw" });
  return (JSON.parse(answer.body) as { usage: number }).usage;
}

describe("hosting quota", () => {
  it("16 concurrent clients across 4 repositories of one user never end above the user's or a repository's quota; the figures match the disk, also after a restart", async () => {
    const folder = join(dir.path, "concurrent");
    mkdirSync(folder);
    writeHtpasswd(join(folder, "htpasswd"), { alice: "apw" });
    let { hosting, port } = await start(folder);
    for (const repo of REPOS) expect((await rawRequest(port, "POST", `/alice/${repo}/?cmd=create`, { login: "alice:apw" })).status).toBe(200);
    let refused = 0;
    let stored = 0;
    // Each client stores new names and overwrites shared ones until well past the quota. No
    // deletes: the disk at the end is the highest the usage ever was.
    const client = async (c: number) => {
      const repo = REPOS[c % REPOS.length] as string;
      for (let i = 0; i < 40; i++) {
        const name = i % 5 === 4 ? `data/shared${i % 3}` : `data/c${c}-${i}`;
        const body = Buffer.alloc(1000 + ((c * 7919 + i * 104729) % 4000), c);
        const answer = await rawRequest(port, "POST", `/alice/${repo}/${name}`, { login: "alice:apw", body });
        if (answer.status === 507) refused++;
        else if (answer.status === 200) stored++;
        else throw new Error(`${answer.status} ${answer.body}`);
      }
    };
    await Promise.all(Array.from({ length: 16 }, (_, c) => client(c)));
    expect(stored).toBeGreaterThan(0);
    expect(refused).toBeGreaterThan(0);
    const onDisk = REPOS.map((repo) => bytesOnDisk(join(folder, "repos", "alice", repo)));
    for (const bytes of onDisk) expect(bytes).toBeLessThanOrEqual(REPO_QUOTA);
    expect(onDisk.reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(USER_QUOTA);
    expect(await Promise.all(REPOS.map((repo) => usage(port, repo)))).toEqual(onDisk);
    // Deletes and moves onto existing names take their bytes off.
    for (const c of [0, 1, 2, 3]) {
      await rawRequest(port, "DELETE", `/alice/r${c}/data/c${c}-0`, { login: "alice:apw" });
      await rawRequest(port, "POST", `/alice/r${c}/?cmd=move&current=data/c${c}-1&new=data/c${c}-2`, { login: "alice:apw" });
    }
    const afterDeletes = REPOS.map((repo) => bytesOnDisk(join(folder, "repos", "alice", repo)));
    expect(afterDeletes.reduce((a, b) => a + b, 0)).toBeLessThan(onDisk.reduce((a, b) => a + b, 0));
    expect(await Promise.all(REPOS.map((repo) => usage(port, repo)))).toEqual(afterDeletes);

    // A clean restart keeps the figures (read from the records, no walk).
    await hosting.shutdown(1000);
    ({ hosting, port } = await start(folder));
    try {
      expect(await Promise.all(REPOS.map((repo) => usage(port, repo)))).toEqual(afterDeletes);
      // The user's quota counts every repository from the first request on, whichever it is for.
      const left = USER_QUOTA - afterDeletes.reduce((a, b) => a + b, 0);
      const tooBig = Buffer.alloc(left + 1);
      expect((await rawRequest(port, "POST", "/alice/r9/?cmd=create", { login: "alice:apw" })).status).toBe(200);
      expect((await rawRequest(port, "POST", "/alice/r9/data/big", { login: "alice:apw", body: tooBig })).status).toBe(507);
    } finally {
      await hosting.shutdown(1000);
    }
  }, 60_000);

  it("reserves each upload's Content-Length before its body: of 16 uploads announced at once, only those that fit are invited", async () => {
    const folder = join(dir.path, "announced");
    mkdirSync(folder);
    writeHtpasswd(join(folder, "htpasswd"), { alice: "apw" });
    const { hosting, port } = await start(folder);
    try {
      for (const repo of REPOS) expect((await rawRequest(port, "POST", `/alice/${repo}/?cmd=create`, { login: "alice:apw" })).status).toBe(200);
      // 16 uploads of 15,000 bytes over 4 repositories, all announced before any body is sent:
      // the user's 200,000 bytes hold 13 of them, each repository's 80,000 holds 5.
      const size = 15_000;
      const uploads = Array.from({ length: 16 }, (_, c) =>
        announcedUpload(port, `/alice/${REPOS[c % 4]}/data/u${c}`, "alice:apw", Buffer.alloc(size, c)),
      );
      const statuses = await Promise.all(uploads);
      const stored = statuses.filter((status) => status === 200).length;
      expect(statuses.filter((status) => status !== 200 && status !== 507)).toEqual([]);
      expect(stored).toBe(13);
      const onDisk = REPOS.map((repo) => bytesOnDisk(join(folder, "repos", "alice", repo)));
      expect(onDisk.reduce((a, b) => a + b, 0)).toBe(13 * size);
      expect(await Promise.all(REPOS.map((repo) => usage(port, repo)))).toEqual(onDisk);
    } finally {
      await hosting.shutdown(1000);
    }
  });

  it("refuses an upload over the quota from its Content-Length, before reading its body", async () => {
    const folder = join(dir.path, "early");
    mkdirSync(folder);
    writeHtpasswd(join(folder, "htpasswd"), { alice: "apw" });
    const { hosting, port } = await start(folder);
    try {
      expect((await rawRequest(port, "POST", "/alice/r0/?cmd=create", { login: "alice:apw" })).status).toBe(200);
      // Announces more than the quota and sends nothing: the answer comes at once.
      const answer = await rawRequest(port, "POST", "/alice/r0/data/x", {
        login: "alice:apw",
        headers: { "Content-Length": String(REPO_QUOTA + 1) },
      });
      expect(answer.status).toBe(507);
      // `Expect: 100-continue` (curl's large uploads): the body is invited only when it fits.
      const refused = await expectContinue(port, "/alice/r0/data/y", REPO_QUOTA + 1);
      expect(refused.answer).not.toContain("100 Continue");
      expect(refused.answer).toMatch(/^HTTP\/1\.1 507 /);
      const invited = await expectContinue(port, "/alice/r0/data/z", 1000);
      expect(invited.answer).toMatch(/^HTTP\/1\.1 100 Continue\r\n\r\nHTTP\/1\.1 200 /);
      expect(bytesOnDisk(join(folder, "repos", "alice", "r0"))).toBe(1000);
    } finally {
      await hosting.shutdown(1000);
    }
  });
});
