import { createHash, randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { requireReferencePeer, requireTestServer, runReferencePython } from "@borgstore/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RestBackend } from "../src/index.js";
import { type Nginx, type Replica, findNginx, killReplica, startNginx, startReplica, stopAllReplicas, valueFor, writeReplicaConfigs } from "./helpers/scale-out.mjs";

/**
 * Three replicas of the hosting server over one radosgw bucket, behind nginx hashing the user
 * consistently (docs/scale-out.md): kill -9 one during concurrent uploads of several users, then
 * restart them one after another under load. Our client (with its retries) must see no failure;
 * afterwards every acknowledged object is there and whole, nothing else is, the usage figures
 * are right and the policy (quota, append-only) holds on the new owner.
 */
const s3Url = requireTestServer("BORGSTORE_TEST_S3_URL", "replicas over one bucket behind nginx (Ceph radosgw)");
const nginxBinary = findNginx();
if (!nginxBinary) {
  const message = "replicas behind nginx: nginx is not installed (scripts/install-test-servers.sh)";
  if (process.env.CI === "true") throw new Error(`${message} — failing because CI=true`);
  process.stderr.write(`\n*** SKIPPING ${message}\n\n`);
}

const FAIL_TIMEOUT_MS = 1000;
const peer = requireReferencePeer("the unmodified Python client through replicas behind nginx", ["requests"]);
/** Our client's users, and "py", whose uploads the Python reference client makes (when it is there). */
const OURS = ["u0", "u1", "u2", "u3", "u4", "u5"];
const USERS = peer ? [...OURS, "py"] : OURS;
const QUOTA = 3 * 1024 * 1024;
const password = (user: string) => `${user} pw`;
const root = mkdtempSync(join(tmpdir(), "borgstore-failover-"));
const run = `failover-${Date.now().toString(36)}-${randomBytes(3).toString("hex")}`;
let replicas: Replica[] = [];
let nginx: Nginx | undefined;
/** Per user, the names stored so far (acknowledged) and every name ever sent. */
const acked = new Map<string, Set<string>>(USERS.map((user) => [user, new Set()]));
const sent = new Map<string, Set<string>>(USERS.map((user) => [user, new Set()]));

function client(user: string, login = user): RestBackend {
  const url = `http://${login}:${encodeURIComponent(password(login))}@127.0.0.1:${nginx?.port}/${user}/main/`;
  return new RestBackend({ url, retries: 10, retryDelay: 100, timeout: 10_000, concurrency: 4, env: {} });
}

const sizeOf = (name: string) => 4096 + (createHash("sha256").update(name).digest()[0] ?? 0) * 64;
const nameOf = (user: string, round: string, i: number) => `data/${createHash("sha256").update(`${run}/${user}/${round}/${i}`).digest("hex")}`;

/**
 * Stores `count` objects of `user`'s (fewer once `enough()`), `workers` at a time, each worker pausing
 * `pauseMs` after each store; notes each acknowledged one.
 */
async function upload(user: string, round: string, count: number, options: { workers?: number; pauseMs?: number; enough?: () => boolean } = {}): Promise<void> {
  const { workers = 4, pauseMs = 0, enough = () => false } = options;
  const backend = client(user);
  await backend.open();
  try {
    let next = 0;
    const worker = async () => {
      for (let i = next++; i < count && !enough(); i = next++) {
        const name = nameOf(user, round, i);
        sent.get(user)?.add(name);
        await backend.store(name, valueFor(name, sizeOf(name)));
        acked.get(user)?.add(name);
        if (pauseMs > 0) await new Promise((resolve) => setTimeout(resolve, pauseMs));
      }
    };
    await Promise.all(Array.from({ length: workers }, worker));
  } finally {
    await backend.close();
  }
}

const authOf = (user: string) => `Basic ${Buffer.from(`${user}:${password(user)}`).toString("base64")}`;

/** `?cmd=quota`'s answer of one replica, bypassing nginx. */
async function quotaAt(port: number, user: string): Promise<string> {
  const res = await fetch(`http://127.0.0.1:${port}/${user}/main/?cmd=quota`, {
    method: "POST",
    headers: { Accept: "application/vnd.x.borgstore.rest.v1", Authorization: authOf(user) },
  });
  return `${port}: ${await res.text()}`;
}

/**
 * The unmodified Python client stores `count` objects of user "py" (one at a time, as it does),
 * printing each name before it sends it and once it is acknowledged.
 */
async function pythonUpload(round: string, count: number): Promise<void> {
  const code = `
import hashlib, sys
from borgstore.store import Store
url, prefix, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
store = Store(url, config={"data/": {"levels": [0]}})
with store:
    for i in range(count):
        name = "data/" + hashlib.sha256(("%s/%d" % (prefix, i)).encode()).hexdigest()
        seed = hashlib.sha256(name.encode()).digest()
        size = 4096 + seed[0] * 64
        print("S", name, flush=True)
        store.store(name, (seed * (size // 32 + 1))[:size])
        print("A", name, flush=True)
`;
  const url = `http://py:${encodeURIComponent(password("py"))}@127.0.0.1:${nginx?.port}/py/main/`;
  const result = await runReferencePython(peer as NonNullable<typeof peer>, code, {
    args: [url, `${run}/py/${round}`, String(count)],
    timeoutMs: 60_000,
  });
  for (const line of result.stdout.toString().split("\n")) {
    const [kind, name] = line.split(" ");
    if (name) (kind === "S" ? sent : acked).get("py")?.add(name);
  }
  expect(result.status, result.stderr).toBe(0);
}

/** Which replica serves `user` now (nginx names it), after a request that answered 200. */
async function ownerOf(user: string): Promise<string | undefined> {
  const res = await fetch(`http://127.0.0.1:${nginx?.port}/${user}/main/?cmd=quota`, {
    method: "POST",
    headers: {
      Accept: "application/vnd.x.borgstore.rest.v1",
      Authorization: authOf(user),
    },
  });
  await res.arrayBuffer();
  return res.status === 200 ? (res.headers.get("x-borgstore-replica") ?? undefined) : undefined;
}

/** Every acknowledged object there and whole, nothing never sent, and the usage figure the listing's sum. */
async function expectEverythingRight(): Promise<void> {
  await Promise.all(USERS.map(expectUserRight));
}

async function expectUserRight(user: string): Promise<void> {
  const backend = client(user);
  await backend.open();
  try {
    let bytes = 0;
    const listed: string[] = [];
    for await (const item of backend.list("data")) {
      const name = `data/${item.name}`;
      listed.push(name);
      bytes += item.size;
      expect(sent.get(user)?.has(name), `${user}: ${name} was never sent`).toBe(true);
    }
    // Loaded 4 at a time, as the client's uploads were made.
    let next = 0;
    const loader = async () => {
      for (let i = next++; i < listed.length; i = next++) {
        const name = listed[i] as string;
        expect(Buffer.compare(Buffer.from(await backend.load(name)), Buffer.from(valueFor(name, sizeOf(name)))), `${user}: ${name} whole`).toBe(0);
      }
    };
    await Promise.all(Array.from({ length: 4 }, loader));
    const found = new Set(listed);
    for (const name of acked.get(user) ?? []) expect(found.has(name), `${user}: acknowledged ${name} is there`).toBe(true);
    const figures = await backend.quota();
    // On a mismatch, what each replica holds for the user (the owner's figure is the one compared).
    const perReplica = figures.usage === bytes ? "" : await Promise.all(replicas.map((r) => quotaAt(r.port, user)));
    expect(figures, `${user}: usage (owner ${await ownerOf(user)}; replicas ${perReplica})`).toEqual({ limit: QUOTA, usage: bytes });
  } finally {
    await backend.close();
  }
}

describe.skipIf(!s3Url || !nginxBinary)("hosting replicas over one bucket behind nginx", () => {
  beforeAll(async () => {
    const logins: Record<string, string> = {};
    let credentials = "";
    let users = "";
    for (const user of USERS) {
      logins[user] = password(user);
      logins[`${user}-create`] = password(`${user}-create`);
      credentials += `${user}-create = { user = "${user}", role = "no-delete" }\n`;
      users += `[users.${user}]\nquota = ${QUOTA}\n`;
    }
    const config =
      `htpasswd = "htpasswd"\nstate_url = "${s3Url}/${run}-state"\n` +
      `[repositories]\nbackend = "${s3Url}/${run}/{user}/{repo}"\nauto_create = true\n` +
      `[credentials]\n${credentials}${users}`;
    replicas = await writeReplicaConfigs(root, 3, config, logins);
    await Promise.all(replicas.map(startReplica));
    nginx = await startNginx(nginxBinary as string, root, replicas, FAIL_TIMEOUT_MS);
    await Promise.all(
      USERS.map(async (user) => {
        // "py" too: the Python client's Store with data/ at level 0 finds this layout.
        const backend = client(user);
        await backend.create();
        await backend.open();
        await backend.mkdir("data");
        await backend.close();
      }),
    );
  }, 30_000);

  afterAll(async () => {
    nginx?.stop();
    await stopAllReplicas();
    if (!process.env.KEEP_FAILOVER) rmSync(root, { recursive: true, force: true });
  });

  it("kill -9 of a replica during uploads: its users move, the clients finish, nothing lost or partial, usage and policy right", async () => {
    const owners = new Map<string, string | undefined>();
    for (const user of USERS) owners.set(user, await ownerOf(user));
    // The victim: the replica serving the most of our users, the Python client's user counting double.
    const weights = new Map<string, number>();
    for (const [user, owner] of owners) if (owner) weights.set(owner, (weights.get(owner) ?? 0) + (user === "py" ? 2 : 1));
    const victimAddress = [...weights].sort((a, b) => b[1] - a[1])[0]?.[0];
    const victim = replicas.find((replica) => `127.0.0.1:${replica.port}` === victimAddress) as Replica;
    const moved = USERS.filter((user) => owners.get(user) === victimAddress);
    expect(moved.length).toBeGreaterThan(0);

    const uploads = Promise.all([...OURS.map((user) => upload(user, "r1", 16)), ...(peer ? [pythonUpload("r1", 24)] : [])]);
    const total = () => [...acked.values()].reduce((sum, names) => sum + names.size, 0);
    while (total() < 40) await new Promise((resolve) => setTimeout(resolve, 5));
    await killReplica(victim);
    const killedAt = performance.now();
    let servedAgain: string | undefined;
    while (!servedAgain) servedAgain = await ownerOf(moved[0] as string);
    const failoverMs = performance.now() - killedAt;
    await uploads;
    process.stderr.write(`failover: ${moved.length} users moved; served again ${failoverMs.toFixed(0)} ms after kill -9\n`);
    expect(servedAgain).not.toBe(victimAddress);
    expect(failoverMs).toBeLessThan(10_000);

    // A quiet moment: the new owners look at the records again before they answer.
    await new Promise((resolve) => setTimeout(resolve, 1200));
    await expectEverythingRight();

    const user = moved.find((name) => name !== "py") ?? (OURS[0] as string);
    const owner = client(user);
    await owner.open();
    await expect(owner.store("data/too-big", new Uint8Array(QUOTA))).rejects.toMatchObject({ code: "QUOTA_EXCEEDED" });
    await owner.close();
    const appendOnly = client(user, `${user}-create`);
    await appendOnly.open();
    const existing = [...(acked.get(user) ?? [])][0] as string;
    await appendOnly.store(existing, valueFor(existing, sizeOf(existing)));
    await expect(appendOnly.store(existing, new Uint8Array(10))).rejects.toMatchObject({ code: "PERMISSION_DENIED" });
    await appendOnly.close();
    await startReplica(victim);
  }, 60_000);

  it("restarting the replicas one after another under load fails no request the client could not retry", async () => {
    let restarted = false;
    // A steady trickle rather than a flood: every user has a store in flight most of the time.
    const uploads = Promise.all(OURS.map((user) => upload(user, "r2", 60, { workers: 1, pauseMs: 200, enough: () => restarted })));
    for (const replica of replicas) {
      await replica.server?.stop();
      await startReplica(replica);
      // nginx takes a replica back after fail_timeout: only then may the next one go.
      await new Promise((resolve) => setTimeout(resolve, FAIL_TIMEOUT_MS + 300));
    }
    restarted = true;
    await uploads;
    // A user's old owner closes their repositories 3 s after its last request and marks the records
    // (stores it finished after the new owner measured); the new owner, quiet for 1 s, measures again.
    await new Promise((resolve) => setTimeout(resolve, 4500));
    await expectEverythingRight();
  }, 120_000);
});
