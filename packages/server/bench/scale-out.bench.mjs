// Scale-out (issue 17, docs/scale-out.md): 1, 2 and 3 hosting replicas behind nginx (hash on the user,
// consistent) over one radosgw bucket (scripts/test-servers/radosgw.sh), in one run, started by the
// failover test's helpers (packages/backend-rest/test/helpers/scale-out.mjs).
//   - Throughput: USERS users (chosen so that each replica owns a third of them under 3 replicas and
//     half under 2), IN_FLIGHT_PER_USER stores or loads each in flight through our client
//     (RestBackend, defaults), for BENCH_SCALE_OUT_SECONDS per phase, 16 KiB and 1 MiB. Stores
//     overwrite a fixed set of names per worker (SLOTS), so the bucket stays small whatever the rate;
//     loads read those names. ops/s and MB/s, ×ratio against 1 replica.
//   - Where the bound lies: CPU seconds of each process group during each phase, from /proc/<pid>/stat
//     (radosgw; the ceph-osd and ceph-mon of its cluster; each replica; nginx's master and workers;
//     this process, the client) and the machine's busy time from /proc/stat (what is left is other work
//     on the machine), as cores busy and as CPU ms per operation.
//   - Failover: the moved users' clients store in a loop (one in flight each, our client's default
//     retries: 3, 5 s apart); a replica is killed (-9); the figure is the time from the kill until every
//     one of its users had a store acknowledged, for FAILOVER_ROUNDS kills (each replica in turn, started
//     again and taken back by nginx between rounds). nginx settings as in docs/scale-out.md, fail_timeout 1 s:
//     `proxy_next_upstream error timeout … non_idempotent` sends a request that meets the dead replica
//     (connection refused, or cut mid-request) to the next replica on the ring at once, and max_fails=1
//     keeps the dead one out for fail_timeout after that, so the client sees no error and its own retry
//     (after a lost connection to nginx, 5 s later) does not come into it ("stores failed" says so). The
//     time is thus the new owner's takeover: reading the user's records, found not clean, and measuring
//     the repository by listing it.
import { createHash, randomBytes } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import {
  findNginx,
  killReplica,
  startNginx,
  startReplica,
  stopAllReplicas,
  writeReplicaConfigs,
} from "../../backend-rest/test/helpers/scale-out.mjs";
import { KiB, MiB, median } from "../../../scripts/bench/lib.mjs";

const { RestBackend } = await import(new URL("../../backend-rest/dist/index.js", import.meta.url).href);

const PHASE_SECONDS = Number(process.env.BENCH_SCALE_OUT_SECONDS ?? 4);
const USERS = 12;
/** Users made, from which USERS spread evenly over the replicas are chosen. */
const CANDIDATES = 25;
const IN_FLIGHT_PER_USER = 2;
const SLOTS = { [16 * KiB]: 16, [MiB]: 4 };
const FAIL_TIMEOUT_MS = 1000;
const FAILOVER_ROUNDS = 5;
const PASSWORD = "bench pw";
const CLOCK_TICKS = 100;

const sizeLabel = (size) => (size >= MiB ? `${size / MiB} MiB` : `${size / KiB} KiB`);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const hex = (text) => createHash("sha256").update(text).digest("hex");

/** CPU seconds (user + system, all threads) process `pid` used so far; 0 once it is gone. */
function cpuSeconds(pid) {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
  } catch {
    return 0;
  }
}

/** Seconds the machine's CPUs were busy (all but idle and iowait), summed over the CPUs. */
function machineBusySeconds() {
  const [, ...fields] = readFileSync("/proc/stat", "utf8").split("\n")[0].trim().split(/\s+/);
  const [user, nice, system, , , irq, softirq, steal] = fields.map(Number);
  return (user + nice + system + irq + softirq + steal) / CLOCK_TICKS;
}

/** The process listening on 127.0.0.1:`port` (through its socket's inode), when it runs here. */
function listenerOf(port) {
  const hexPort = port.toString(16).toUpperCase().padStart(4, "0");
  const inodes = new Set();
  for (const line of readFileSync("/proc/net/tcp", "utf8").split("\n").slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f[1]?.endsWith(`:${hexPort}`) && f[3] === "0A") inodes.add(`socket:[${f[9]}]`);
  }
  for (const pid of readdirSync("/proc").filter((d) => /^\d+$/.test(d))) {
    let fds = [];
    try {
      fds = readdirSync(`/proc/${pid}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      try {
        if (inodes.has(readlinkSync(`/proc/${pid}/fd/${fd}`))) return Number(pid);
      } catch {}
    }
  }
  return undefined;
}

/** radosgw serving `endpoint`, and the other daemons of its cluster (same `-c ceph.conf`). */
function cephProcesses(endpoint) {
  const rgw = listenerOf(Number(new URL(endpoint).port || 80));
  if (!rgw) return { rgw: [], cluster: [] };
  const args = (pid) => readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0");
  const rgwArgs = args(rgw);
  const conf = rgwArgs[rgwArgs.indexOf("-c") + 1];
  const cluster = [];
  for (const pid of readdirSync("/proc").filter((d) => /^\d+$/.test(d)).map(Number)) {
    if (pid === rgw) continue;
    try {
      const a = args(pid);
      if (conf && /ceph-(osd|mon|mgr)$/.test(a[0]) && a[a.indexOf("-c") + 1] === conf) cluster.push(pid);
    } catch {}
  }
  return { rgw: [rgw], cluster };
}

/** Runs `op(user, worker, i)` for every user's workers until `seconds` passed: ops done and seconds taken. */
async function timed(users, seconds, op) {
  let ops = 0;
  const started = performance.now();
  const end = started + seconds * 1000;
  await Promise.all(
    users.flatMap((user) =>
      Array.from({ length: IN_FLIGHT_PER_USER }, async (_, worker) => {
        for (let i = 0; performance.now() < end; i++) {
          await op(user, worker, i);
          ops++;
        }
      }),
    ),
  );
  return { ops, seconds: (performance.now() - started) / 1000 };
}

export default async function scaleOut(ctx) {
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";
  const s3Url = ctx.env.BORGSTORE_TEST_S3_URL;
  if (!s3Url) ctx.missing("BORGSTORE_TEST_S3_URL (radosgw: scripts/test-servers/radosgw.sh)");
  const nginxBinary = findNginx();
  if (!nginxBinary) ctx.missing("nginx (scripts/install-test-servers.sh)");

  const root = mkdtempSync(join(tmpdir(), "borgstore-scale-out-bench-"));
  const run = `scale-out-${Date.now().toString(36)}-${randomBytes(3).toString("hex")}`;
  const candidates = Array.from({ length: CANDIDATES }, (_, i) => `u${String(i).padStart(2, "0")}`);
  const nginxes = [];
  const cores = cpus().length;
  try {
    const config =
      `htpasswd = "htpasswd"\nstate_url = "${s3Url}/${run}-state"\n` + `[repositories]\nbackend = "${s3Url}/${run}/{user}/{repo}"\nauto_create = true\n`;
    const replicas = await writeReplicaConfigs(root, 3, config, Object.fromEntries(candidates.map((user) => [user, PASSWORD])));
    await Promise.all(replicas.map(startReplica));
    // nginx k (1, 2, 3) in front of the first k replicas.
    for (let k = 1; k <= 3; k++) {
      const dir = join(root, `nginx${k}`);
      mkdirSync(dir);
      nginxes.push(await startNginx(nginxBinary, dir, replicas.slice(0, k), FAIL_TIMEOUT_MS));
    }
    const urlOf = (nginx, user) => `http://${user}:${encodeURIComponent(PASSWORD)}@127.0.0.1:${nginx.port}/${user}/main/`;
    const clientOf = (nginx, user) => new RestBackend({ url: urlOf(nginx, user), concurrency: IN_FLIGHT_PER_USER, env: {} });
    const ownerOf = async (nginx, user) => {
      try {
        const res = await fetch(`http://127.0.0.1:${nginx.port}/${user}/main/?cmd=quota`, {
          method: "POST",
          headers: { Accept: "application/vnd.x.borgstore.rest.v1", Authorization: `Basic ${Buffer.from(`${user}:${PASSWORD}`).toString("base64")}` },
        });
        await res.arrayBuffer();
        return res.status === 200 ? res.headers.get("x-borgstore-replica") : undefined;
      } catch {
        return undefined;
      }
    };
    const address = (replica) => `127.0.0.1:${replica.port}`;

    // Users spread evenly: a third on each replica under 3, and the third replica's users split
    // between the other two under 2 (consistent hashing keeps the others where they are).
    for (const user of candidates) {
      const backend = clientOf(nginxes[2], user);
      await backend.create();
      await backend.open();
      await backend.mkdir("data");
      await backend.close();
    }
    const placed = [];
    for (const user of candidates) placed.push({ user, three: await ownerOf(nginxes[2], user), two: await ownerOf(nginxes[1], user) });
    const users = [];
    const want = (p) => {
      const onThree = users.filter((u) => u.three === p.three).length;
      if (onThree >= USERS / 3) return false;
      if (p.three !== address(replicas[2])) return true;
      return users.filter((u) => u.three === p.three && u.two === p.two).length < USERS / 6;
    };
    for (const p of placed) if (users.length < USERS && want(p)) users.push(p);
    for (const p of placed) if (users.length < USERS && !users.includes(p)) users.push(p);
    const spread = (key) => replicas.map((r) => users.filter((u) => u[key] === address(r)).length).join("/");
    const userNames = users.map((u) => u.user);

    const ceph = cephProcesses(new URL(s3Url.replace(/^s3:[^@]*@/, "")).origin);
    const groups = (k) => ({
      radosgw: ceph.rgw,
      "ceph-osd/mon": ceph.cluster,
      ...Object.fromEntries(replicas.map((r, i) => [`replica ${i + 1}`, [r.server.process.pid]])),
      nginx: nginxes[k - 1].pids(),
      client: [process.pid],
    });
    const sample = (k) => ({
      machine: machineBusySeconds(),
      groups: Object.fromEntries(Object.entries(groups(k)).map(([name, pids]) => [name, pids.reduce((sum, pid) => sum + cpuSeconds(pid), 0)])),
    });

    const values = { [16 * KiB]: randomBytes(16 * KiB), [MiB]: randomBytes(MiB) };
    const nameOf = (user, size, worker, i) => `data/${hex(`${user}/${size}/${worker}/${i % SLOTS[size]}`)}`;
    const throughput = {};
    for (const size of [16 * KiB, MiB]) {
      // Every name a load reads exists: stored once through 3 replicas before anything is timed.
      await Promise.all(
        userNames.map(async (user) => {
          const backend = clientOf(nginxes[2], user);
          await backend.open();
          for (let worker = 0; worker < IN_FLIGHT_PER_USER; worker++)
            for (let i = 0; i < SLOTS[size]; i++) await backend.store(nameOf(user, size, worker, i), values[size]);
          await backend.close();
        }),
      );
      for (const kind of ["store", "load"]) {
        for (let k = 1; k <= 3; k++) {
          const nginx = nginxes[k - 1];
          const clients = Object.fromEntries(userNames.map((user) => [user, clientOf(nginx, user)]));
          await Promise.all(Object.values(clients).map((c) => c.open()));
          const op =
            kind === "store"
              ? (user, worker, i) => clients[user].store(nameOf(user, size, worker, i), values[size])
              : async (user, worker, i) => {
                  const value = await clients[user].load(nameOf(user, size, worker, i));
                  if (value.byteLength !== size) throw new Error(`loaded ${value.byteLength} bytes, stored ${size}`);
                };
          // Untimed: each user's first request on its owner here (a hand-over from the last phase's
          // owner reads or measures its records).
          await Promise.all(userNames.map((user) => op(user, 0, 0)));
          const before = sample(k);
          const { ops, seconds } = await timed(userNames, PHASE_SECONDS, op);
          const after = sample(k);
          await Promise.all(Object.values(clients).map((c) => c.close()));

          const opsPerSec = ops / seconds;
          const key = `${kind} ${sizeLabel(size)}`;
          throughput[key] ??= {};
          throughput[key][k] = opsPerSec;
          const spreadText = k === 1 ? "" : `, users ${k === 2 ? spread("two").split("/").slice(0, 2).join("/") : spread("three")}`;
          ctx.report({
            case: `${key}, ${k} replica${k > 1 ? "s" : ""} (${USERS} users × ${IN_FLIGHT_PER_USER} in flight${spreadText}): ${((opsPerSec * size) / 1e6).toFixed(1)} MB/s`,
            value: opsPerSec,
            unit: "ops/s",
            ...(k > 1 ? { reference: throughput[key][1], referenceLabel: "1 replica" } : {}),
          });

          const used = Object.fromEntries(Object.entries(after.groups).map(([name, s]) => [name, s - before.groups[name]]));
          const machine = after.machine - before.machine;
          const replicaTotal = Object.entries(used)
            .filter(([name]) => name.startsWith("replica"))
            .reduce((sum, [, s]) => sum + s, 0);
          const ours = Object.values(used).reduce((sum, s) => sum + s, 0);
          const c = (s) => (s / seconds).toFixed(2);
          const perOp = (s) => ((s / ops) * 1000).toFixed(2);
          const perReplica = replicas.map((_, i) => c(used[`replica ${i + 1}`])).join("+");
          ctx.report({
            case:
              `${key}, ${k} replica${k > 1 ? "s" : ""}: cores busy: radosgw ${c(used.radosgw)}, ceph-osd/mon ${c(used["ceph-osd/mon"])}, ` +
              `replicas ${c(replicaTotal)} (${perReplica}), nginx ${c(used.nginx)}, client ${c(used.client)}, other work ${c(Math.max(0, machine - ours))} ` +
              `of ${cores}; CPU ms per op: radosgw+ceph ${perOp(used.radosgw + used["ceph-osd/mon"])}, replicas ${perOp(replicaTotal)}, nginx ${perOp(used.nginx)}, client ${perOp(used.client)}`,
            value: machine / seconds,
            unit: `cores busy of ${cores}`,
          });
        }
      }
    }

    // Failover through 3 replicas.
    const nginx = nginxes[2];
    const errorLog = join(root, "nginx3", "nginx", "logs", "error.log");
    // Each attempt on the dead replica nginx logs (refused or cut connection), and passes to the next replica.
    const upstreamFailures = () =>
      existsSync(errorLog)
        ? readFileSync(errorLog, "utf8")
            .split("\n")
            .filter((l) => /while (connecting to|reading response header from|sending request to) upstream|prematurely closed/.test(l)).length
        : 0;
    const failuresBefore = upstreamFailures();
    const times = [];
    let failedStores = 0;
    let movedUsers = 0;
    for (let round = 0; round < FAILOVER_ROUNDS; round++) {
      const victim = replicas[round % 3];
      const moved = userNames.filter((user) => users.find((u) => u.user === user).three === address(victim));
      movedUsers += moved.length;
      let stop = false;
      let killedAt = Number.POSITIVE_INFINITY;
      const servedAgain = new Map();
      const loops = moved.map(async (user) => {
        const backend = new RestBackend({ url: urlOf(nginx, user), env: {} });
        await backend.open();
        for (let i = 0; !stop; i++) {
          try {
            await backend.store(`data/${hex(`failover/${round}/${user}/${i}`)}`, values[16 * KiB]);
            if (performance.now() > killedAt && !servedAgain.has(user)) servedAgain.set(user, performance.now() - killedAt);
          } catch {
            failedStores++;
          }
        }
        await backend.close();
      });
      await sleep(500);
      await killReplica(victim);
      killedAt = performance.now();
      const deadline = killedAt + 60_000;
      while (servedAgain.size < moved.length && performance.now() < deadline) await sleep(5);
      stop = true;
      await Promise.all(loops);
      if (servedAgain.size < moved.length) throw new Error(`round ${round}: users of the killed replica not served within 60 s`);
      times.push(Math.max(...servedAgain.values()));
      await startReplica(victim);
      // nginx takes the replica back after fail_timeout; its users are then served there again.
      const back = performance.now() + 30_000;
      while ((await ownerOf(nginx, moved[0])) !== address(victim) && performance.now() < back) await sleep(100);
    }
    const note = `${FAILOVER_ROUNDS} kills, ${(movedUsers / FAILOVER_ROUNDS).toFixed(1)} users moved each, ${failedStores} stores failed, nginx passed ${upstreamFailures() - failuresBefore} failed attempts to the next replica`;
    ctx.report({ case: `failover: kill -9 until the replica's users are served again through nginx, median (${note})`, value: median(times), unit: "ms" });
    ctx.report({ case: "failover: kill -9 until the replica's users are served again through nginx, max", value: Math.max(...times), unit: "ms" });
    ctx.report({ case: "failover: stores that failed at the client (nginx passes them on; none may fail)", value: failedStores, unit: "stores", target: "0", met: failedStores === 0 });
    ctx.report({ case: `load average (1 min) at the end; users on replicas under 3: ${spread("three")}`, value: loadavg()[0], unit: "" });
    // What this run stored leaves the bucket (radosgw's memstore keeps it in memory).
    for (const user of candidates) await clientOf(nginxes[2], user).destroy();
  } finally {
    for (const nginx of nginxes) nginx.stop();
    await stopAllReplicas();
    rmSync(root, { recursive: true, force: true });
  }
}
