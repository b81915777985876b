import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { FairShare } from "../src/hosting/fair-share.js";
import { HtpasswdTable, PasswordChecker } from "../src/hosting/htpasswd.js";

/** A line as Debian's `htpasswd -B` writes it (the real tool, not a hash made here). */
function htpasswdLine(login: string, password: string, cost = 10): string {
  return execFileSync("htpasswd", ["-nbB", "-C", String(cost), login, password], { encoding: "utf8" }).trim();
}

function basic(login: string, password: string): string {
  return `Basic ${Buffer.from(`${login}:${password}`).toString("base64")}`;
}

const CLI = fileURLToPath(new URL("../dist/cli.js", import.meta.url));
const MEDIA_TYPE = "application/vnd.x.borgstore.rest.v1";

interface Hosting {
  dir: string;
  htpasswd: string;
  config: string;
  child: ChildProcess;
  base: string;
}

const running: Hosting[] = [];
afterEach(() => {
  for (const h of running.splice(0)) {
    h.child.kill("SIGKILL");
    rmSync(h.dir, { recursive: true, force: true });
  }
});

/** The real CLI in hosting mode on a free port, with `htpasswd` lines and extra TOML. */
async function startHosting(htpasswdText: string, extraToml = ""): Promise<Hosting> {
  const dir = mkdtempSync(join(tmpdir(), "brk2-s11-"));
  const htpasswd = join(dir, "htpasswd");
  writeFileSync(htpasswd, htpasswdText);
  const config = join(dir, "hosting.toml");
  writeFileSync(
    config,
    `htpasswd = "${htpasswd}"\nstate_dir = "${dir}/state"\n[listen]\nhost = "127.0.0.1"\nport = 0\n[repositories]\nbackend = "file://${dir}/repos/{user}/{repo}"\nauto_create = true\n${extraToml}`,
  );
  const child = spawn(process.execPath, [CLI, "--config", config], { stdio: ["ignore", "pipe", "pipe"] });
  const base = await new Promise<string>((resolve, reject) => {
    let text = "";
    const timer = setTimeout(() => reject(new Error(`no start: ${text}`)), 15_000);
    const onData = (chunk: Buffer) => {
      text += chunk.toString();
      const m = /on (http:\/\/127\.0\.0\.1:\d+)\//.exec(text);
      if (m?.[1]) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    };
    child.stderr?.on("data", onData);
    child.stdout?.on("data", onData);
    child.on("exit", (code) => reject(new Error(`exited ${code}: ${text}`)));
  });
  const h = { dir, htpasswd, config, child, base };
  running.push(h);
  return h;
}

/** Replaces the file as editors and htpasswd do (a new file renamed over the old one). */
function replaceFile(path: string, text: string): void {
  writeFileSync(`${path}.new`, text);
  renameSync(`${path}.new`, path);
}

async function status(h: Hosting, path: string, auth: string, init: RequestInit = {}): Promise<number> {
  const res = await fetch(`${h.base}${path}`, { ...init, headers: { accept: MEDIA_TYPE, authorization: auth, ...(init.headers ?? {}) } });
  await res.arrayBuffer();
  return res.status;
}

/** mulberry32: a small seeded generator whose low bits are not periodic (an LCG's are). */
function seeded(seed: number): (n: number) => number {
  let a = seed >>> 0;
  return (n) => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (((t ^ (t >>> 14)) >>> 0) % n);
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("breaker s11: hosting sign-in", () => {
  // FINDING: high — a password changed (file reload) while a sign-in with the old password is
  // being bcrypt-checked leaves the OLD password's header remembered against the NEW hash:
  // #signInSlowly reads the table's hash again after the await and remembers the header under it,
  // so the old password keeps signing in for good (until the next change). Expected: the old
  // header is refused once the new table is in force; got: it signs in.
  it("a password changed during the old password's bcrypt check does not keep the old password working", async () => {
    const checker = new PasswordChecker(HtpasswdTable.parse(`${htpasswdLine("alice", "old-secret")}\n`));
    try {
      const oldHeader = basic("alice", "old-secret");
      const inFlight = checker.signIn(oldHeader);
      // The operator changes alice's password while that first request's bcrypt runs (SIGHUP / file change).
      checker.replaceTable(HtpasswdTable.parse(`${htpasswdLine("alice", "new-secret")}\n`));
      await inFlight; // The request in flight was checked against the table it started with: either answer is fine.
      expect(await checker.signIn(oldHeader)).toBeUndefined();
      expect(await checker.signIn(basic("alice", "new-secret"))).toBe("alice");
    } finally {
      checker.close();
    }
  });

  // FINDING: high — same cause, a removal: alice is removed while her first request is checked, and
  // re-added (a new account for a new person) with another password before the check ends; the
  // removed account's password then signs in as the new alice. Expected undefined; got "alice".
  it("a login removed and re-added with another password during a sign-in does not take the removed password", async () => {
    const checker = new PasswordChecker(HtpasswdTable.parse(`${htpasswdLine("alice", "removed-pw")}\n`));
    try {
      const removed = basic("alice", "removed-pw");
      const inFlight = checker.signIn(removed);
      checker.replaceTable(HtpasswdTable.parse(""));
      checker.replaceTable(HtpasswdTable.parse(`${htpasswdLine("alice", "new-person")}\n`));
      await inFlight;
      expect(await checker.signIn(removed)).toBeUndefined();
    } finally {
      checker.close();
    }
  });

  // FINDING: high — the same race through the real CLI: alice's password is changed with a new
  // htpasswd file and SIGHUP while her first request with the old password is being checked (cost
  // 13, as an operator may choose); from then on the OLD password is accepted by the server
  // (expected 401 for the old password after the reload; got a signed-in answer).
  it("CLI: a password changed (file + SIGHUP) during a sign-in does not leave the old password working", async () => {
    const h = await startHosting(`${htpasswdLine("alice", "old-secret", 13)}\n`);
    const newText = `${htpasswdLine("alice", "new-secret", 13)}\n`;
    const oldHeader = basic("alice", "old-secret");
    const first = status(h, "/alice/laptop/config", oldHeader);
    await sleep(100);
    replaceFile(h.htpasswd, newText);
    h.child.kill("SIGHUP");
    expect(await first).not.toBe(401);
    await sleep(400); // the file-change reload too has settled
    // Checked before alice uses her new password: her new header would replace the remembered old one
    // (one per login), which closes the hole only once she signs in again.
    expect(await status(h, "/alice/laptop/config", oldHeader)).toBe(401);
    expect(await status(h, "/alice/laptop/config", basic("alice", "new-secret"))).not.toBe(401);
  }, 30_000);
});

describe("breaker s11: sign-in without a race (held)", () => {
  it("CLI: a remembered header is refused after its login is removed by a file change alone, and after it is re-added with another password", async () => {
    const bob = htpasswdLine("bob", "bob-pw", 5);
    const h = await startHosting(`${htpasswdLine("alice", "first", 5)}\n${bob}\n`);
    const first = basic("alice", "first");
    expect(await status(h, "/alice/laptop/config", first)).not.toBe(401);
    expect(await status(h, "/alice/laptop/config", first)).not.toBe(401);
    replaceFile(h.htpasswd, `${bob}\n`);
    await sleep(600); // the watcher's settle time and the read
    expect(await status(h, "/alice/laptop/config", first)).toBe(401);
    replaceFile(h.htpasswd, `${bob}\n${htpasswdLine("alice", "second", 5)}\n`);
    await sleep(600);
    expect(await status(h, "/alice/laptop/config", first)).toBe(401);
    expect(await status(h, "/alice/laptop/config", basic("alice", "second"))).not.toBe(401);
    // bob's header never maps to alice, nor alice's to bob: each answers for its own repository only.
    expect(await status(h, "/bob/laptop/config", basic("alice", "second"))).toBe(404);
    expect(await status(h, "/alice/laptop/config", basic("bob", "bob-pw"))).toBe(404);
  }, 30_000);
});

describe("breaker s11: fair share across a reload", () => {
  // FINDING: low — max_in_flight lowered by a reload (4 → 1) is exceeded: a request released under
  // the old limits hands its slot straight to a waiter queued under the new ones (release uses the
  // limits captured at admission: running 4 <= 4), so the waiter runs beside 3 others. Expected: at
  // most the old requests run, and the new one waits until fewer than 1 run; got it admitted with 4 running.
  it("a waiter queued under a lowered max_in_flight is not admitted while more than the new limit run", async () => {
    const share = new FairShare();
    const signal = new AbortController().signal;
    const before = { maxInFlight: 4, maxQueued: 8, bandwidth: undefined };
    const after = { maxInFlight: 1, maxQueued: 8, bandwidth: undefined };
    const old = [0, 1, 2, 3].map(() => share.admit("alice", before, signal));
    const waiting = share.admit("alice", after, signal);
    expect(waiting).toBeInstanceOf(Promise);
    let admitted = false;
    void (waiting as Promise<unknown>).then(() => {
      admitted = true;
    });
    (old[0] as { release(): void }).release();
    await new Promise((r) => setTimeout(r, 10));
    // 3 old requests still run: the new limit is 1, so the waiter must still wait.
    expect({ admitted, running: share.running("alice").now }).toEqual({ admitted: false, running: 3 });
  });
});

/** Bytes and files of a file:// repository's objects (its "*.hid" bookkeeping left out). */
function onDisk(root: string): { bytes: number; objects: number } {
  let bytes = 0;
  let objects = 0;
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      if (entry.name.endsWith(".hid")) continue;
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else {
        bytes += statSync(path).size;
        objects++;
      }
    }
  };
  walk(root);
  return { bytes, objects };
}

describe("breaker s11: fair share through the CLI (held)", () => {
  it("max_in_flight = 2, max_queued = 0: two stalled downloads hold both slots, a third request is refused with 503, and after them it runs", async () => {
    const h = await startHosting(`${htpasswdLine("alice", "pw", 5)}\n`, "[fair_share]\nmax_in_flight = 2\nmax_queued = 0\n");
    const auth = basic("alice", "pw");
    expect(await status(h, "/alice/laptop/?cmd=create", auth, { method: "POST" })).toBe(200);
    expect(await status(h, "/alice/laptop/data/big", auth, { method: "POST", body: Buffer.alloc(48 * 1024 * 1024, 1) })).toBe(200);
    const { port } = new URL(h.base);
    // Clients that ask for the big object and never read: their answers cannot finish.
    const stalled = [0, 1].map(() => {
      const socket = connect(Number(port), "127.0.0.1");
      socket.write(`GET /alice/laptop/data/big HTTP/1.1\r\nHost: x\r\nAccept: ${MEDIA_TYPE}\r\nAuthorization: ${auth}\r\n\r\n`);
      socket.pause();
      return socket;
    });
    await sleep(500);
    expect(await status(h, "/alice/laptop/config", auth)).toBe(503);
    for (const socket of stalled) socket.destroy();
    await sleep(500);
    expect(await status(h, "/alice/laptop/config", auth)).not.toBe(503);
  }, 30_000);
});

describe("breaker s11: fair share lowered by a reload, through the CLI", () => {
  // FINDING: low — max_in_flight lowered from 4 to 1 by SIGHUP while 4 downloads of alice run: when
  // one of them ends, a request that queued after the reload is admitted at once beside the 3
  // still running (the release applies the limits its request was admitted under). Expected: it
  // waits while more than 1 of alice's requests run; got: it is answered with 3 still running.
  it("CLI: a request queued after max_in_flight was lowered waits while more than the new limit run", async () => {
    const h = await startHosting(`${htpasswdLine("alice", "pw", 5)}\n`, "[fair_share]\nmax_in_flight = 4\nmax_queued = 8\n");
    const auth = basic("alice", "pw");
    expect(await status(h, "/alice/laptop/?cmd=create", auth, { method: "POST" })).toBe(200);
    expect(await status(h, "/alice/laptop/data/big", auth, { method: "POST", body: Buffer.alloc(48 * 1024 * 1024, 1) })).toBe(200);
    const { port } = new URL(h.base);
    const stalled = [0, 1, 2, 3].map(() => {
      const socket = connect(Number(port), "127.0.0.1");
      socket.write(`GET /alice/laptop/data/big HTTP/1.1\r\nHost: x\r\nAccept: ${MEDIA_TYPE}\r\nAuthorization: ${auth}\r\n\r\n`);
      socket.pause();
      return socket;
    });
    await sleep(500);
    writeFileSync(h.config, `${readFileSync(h.config, "utf8").replace("max_in_flight = 4", "max_in_flight = 1")}`);
    h.child.kill("SIGHUP");
    await sleep(300);
    let answered = false;
    const queued = status(h, "/alice/laptop/config", auth).then((code) => {
      answered = true;
      return code;
    });
    await sleep(200);
    expect(answered).toBe(false); // 4 run: it waits
    stalled[0]?.destroy();
    await sleep(500);
    const stillWaiting = !answered; // 3 still run, the limit is 1
    for (const socket of stalled) socket.destroy();
    await queued;
    expect(stillWaiting).toBe(true);
  }, 30_000);
});

describe("breaker s11: quota exactness", () => {
  it("16 concurrent clients overwriting and deleting a few names: usage equals the disk", async () => {
    const h = await startHosting(`${htpasswdLine("alice", "pw", 5)}\n`, 'quota = "10M"\n');
    const auth = basic("alice", "pw");
    expect(await status(h, "/alice/laptop/?cmd=create", auth, { method: "POST" })).toBe(200);
    const statuses = new Map<number, number>();
    const worker = async (w: number) => {
      const random = seeded(100 + w);
      for (let i = 0; i < 40; i++) {
        const name = `data/0${random(6)}`;
        const op = random(4);
        const code =
          op === 0
            ? await status(h, `/alice/laptop/${name}`, auth, { method: "DELETE" })
            : await status(h, `/alice/laptop/${name}`, auth, { method: "POST", body: Buffer.alloc(random(5000), 65 + op) });
        statuses.set(code, (statuses.get(code) ?? 0) + 1);
      }
    };
    await Promise.all(Array.from({ length: 16 }, (_, w) => worker(w)));
    const usage = (await (await fetch(`${h.base}/_usage`, { headers: { authorization: auth } })).json()) as { bytes: number; objects: number };
    expect([...statuses.keys()].every((code) => code === 200 || code === 404)).toBe(true);
    expect({ bytes: usage.bytes, objects: usage.objects }).toEqual(onDisk(join(h.dir, "repos/alice/laptop")));
  }, 60_000);
});

describe("breaker s11: append-only beside an owner", () => {
  it("owner and create-only logins (no-delete), 16 clients: usage equals the disk, the create-only one gets only 200 or 403", async () => {
    const lines = [htpasswdLine("alice", "pw", 5), htpasswdLine("alice-create", "cw", 5)].join("\n");
    const h = await startHosting(`${lines}\n`, '[credentials]\nalice-create = { user = "alice", role = "no-delete" }\n');
    const owner = basic("alice", "pw");
    const creator = basic("alice-create", "cw");
    expect(await status(h, "/alice/laptop/?cmd=create", owner, { method: "POST" })).toBe(200);
    const statuses = new Map<string, number>();
    const worker = async (w: number) => {
      const random = seeded(200 + w);
      const auth = w % 2 === 0 ? owner : creator;
      for (let i = 0; i < 30; i++) {
        const n = random(5);
        const name = `data/1${n}`;
        const fill = 65 + random(3);
        const body = Buffer.alloc(100 * (n + 1) + (fill - 65), fill);
        // Sized bodies only: a chunked upload is refused with 411 (Content-Length is required for the quota).
        const init: RequestInit = { method: "POST", body };
        const code = auth === owner && random(5) === 0 ? await status(h, `/alice/laptop/${name}`, auth, { method: "DELETE" }) : await status(h, `/alice/laptop/${name}`, auth, init);
        const key = `${auth === owner ? "owner" : "creator"} ${code}`;
        statuses.set(key, (statuses.get(key) ?? 0) + 1);
      }
    };
    await Promise.all(Array.from({ length: 16 }, (_, w) => worker(w)));
    const usage = (await (await fetch(`${h.base}/_usage`, { headers: { authorization: owner } })).json()) as { bytes: number; objects: number };
    expect([...statuses.keys()].filter((k) => !/^(owner (200|404)|creator (200|403))$/.test(k))).toEqual([]);
    expect({ bytes: usage.bytes, objects: usage.objects }).toEqual(onDisk(join(h.dir, "repos/alice/laptop")));
  }, 60_000);
});

describe("breaker s11: quota at its limit", () => {
  it("16 clients over two repositories near a repository and a user quota: never over either, usage equals the disk", async () => {
    const h = await startHosting(`${htpasswdLine("alice", "pw", 5)}\n`, 'quota = "20000"\n[users.alice]\nquota = "30000"\n');
    const auth = basic("alice", "pw");
    for (const repo of ["one", "two"]) expect(await status(h, `/alice/${repo}/?cmd=create`, auth, { method: "POST" })).toBe(200);
    const codes = new Set<number>();
    const expected = new Map<string, number | undefined>();
    const worker = async (w: number) => {
      const random = seeded(300 + w);
      for (let i = 0; i < 25; i++) {
        const repo = random(2) === 0 ? "one" : "two";
        const name = `data/${w.toString(16)}${random(4)}`;
        const del = random(6) === 0;
        const size = 200 + random(1800);
        const code = del
          ? await status(h, `/alice/${repo}/${name}`, auth, { method: "DELETE" })
          : await status(h, `/alice/${repo}/${name}`, auth, { method: "POST", body: Buffer.alloc(size, 66) });
        codes.add(code);
        // Each name is one worker's: what it holds follows from that worker's answers alone.
        if (code === 200) expected.set(`${repo}/${name}`, del ? undefined : size);
        if (code === 404) expected.set(`${repo}/${name}`, undefined);
      }
    };
    await Promise.all(Array.from({ length: 16 }, (_, w) => worker(w)));
    const held = [...expected].filter(([, size]) => size !== undefined);
    const heldBytes = (repo: string) => held.filter(([key]) => key.startsWith(`${repo}/`)).reduce((sum, [, size]) => sum + (size ?? 0), 0);
    const one = onDisk(join(h.dir, "repos/alice/one"));
    const two = onDisk(join(h.dir, "repos/alice/two"));
    const usage = (await (await fetch(`${h.base}/_usage`, { headers: { authorization: auth } })).json()) as {
      bytes: number;
      repositories: Array<{ name: string; bytes: number; objects: number }>;
    };
    expect([...codes].filter((c) => c !== 200 && c !== 404 && c !== 507)).toEqual([]);
    expect(codes.has(507), JSON.stringify({ codes: [...codes], one, two })).toBe(true); // the quota was reached
    // Every name is one worker's: what the answers say it holds is what the disk holds.
    expect({ one: one.bytes, two: two.bytes }).toEqual({ one: heldBytes("one"), two: heldBytes("two") });
    expect(one.bytes).toBeLessThanOrEqual(20000);
    expect(two.bytes).toBeLessThanOrEqual(20000);
    expect(one.bytes + two.bytes).toBeLessThanOrEqual(30000);
    const byName = Object.fromEntries(usage.repositories.map((r) => [r.name, { bytes: r.bytes, objects: r.objects }]));
    expect(byName).toEqual({ one, two });
  }, 60_000);
});
