// SFTP backend against the loopback OpenSSH sshd (scripts/test-servers/sshd.sh), next to OpenSSH's
// own `sftp -b` moving the same 64 MiB: Store store/load at 1 KiB and 4 MiB with 1 and 16 in flight,
// one 64 MiB object each way; then the same over a link with added latency (a delaying TCP proxy:
// tc netem is not available on these machines).
// Reference: the unmodified Python reference's Store over paramiko on the same sshd, same run,
// sequential as borg uses it (reference-store-driver.py), on the loopback link. Targets: every
// rate at least the reference's; 64 MiB at least as fast as OpenSSH's sftp each way (same run);
// 1 KiB stores with 16 in flight ≥ 5× our sequential rate.
//
// Like with like:
// - OpenSSH's sftp runs with the cipher ssh2 negotiates with this server (aes128-gcm@openssh.com
//   here), and once more with its own default (chacha20-poly1305@openssh.com) for information; the
//   target ratio is taken against the same cipher.
// - Its local file is in /dev/shm when there is one: ours stores from and loads into memory, and a
//   get written to disk varies with writeback.
// - Each size first runs a short untimed warm-up (JIT, connection), so the sequential rate is not
//   a cold start; and no phase deletes before the next: deleting 1000 files just before the next
//   phase's creates slows the server's file creation (ext4 skips recently freed inodes), which
//   would burden the 16-in-flight phase only. Everything is deleted at the end of each size.
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { createHash, randomBytes } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { sftpBackendFromUrl } from "@borgstore/backend-sftp";
import ssh2 from "ssh2";
import { Store } from "@borgstore/core";
import { referenceEnv, requireReferencePeer } from "@borgstore/testkit";
import { KiB, MiB, measure, startReferenceStore } from "../../../scripts/bench/lib.mjs";
import { startLatencyProxy } from "./latency-proxy.mjs";

const CONFIG = { "": { levels: [0] }, "data/": { levels: [2] } };
const BIG = 64 * MiB;
/** 64 MiB transfers per client and direction; the best one counts. */
const ROUNDS = 3;
/** One-way delay of the high-latency link, ms (round trip = 2×). */
const DELAY_MS = Number(process.env.BORGSTORE_BENCH_SFTP_DELAY_MS ?? 5);
const LABEL = "Python reference (paramiko), sequential, same run";

const keyOf = (i) => `data/${createHash("sha256").update(String(i)).digest("hex")}`;
const mbps = (bytes, seconds) => bytes / seconds / 1e6;

export default async function bench(ctx) {
  const e = ctx.env;
  if (!e.BORGSTORE_TEST_SFTP_URL || !e.BORGSTORE_TEST_SSHD_KEY)
    ctx.missing("BORGSTORE_TEST_SFTP_URL and BORGSTORE_TEST_SSHD_KEY (scripts/test-servers/sshd.sh start DIR)");
  const peer = requireReferencePeer("sftp bench", ["paramiko"]) ?? ctx.missing("the Python reference with paramiko (scripts/install-test-servers.sh)");
  // In memory when possible (see the header): OpenSSH's sftp reads and writes its local file here.
  const scratch = mkdtempSync(join(existsSync("/dev/shm") ? "/dev/shm" : tmpdir(), "borgstore-sftp-bench-"));
  const bigFile = join(scratch, "big.bin");
  writeFileSync(bigFile, randomBytes(BIG));
  try {
    const direct = { port: Number(e.BORGSTORE_TEST_SSHD_PORT), label: "loopback" };
    const reference = await measureReference(peer, e, scratch, direct.port);
    await runLink(ctx, e, scratch, bigFile, direct, reference);
    const proxy = await startLatencyProxy("127.0.0.1", direct.port, DELAY_MS);
    try {
      await runLink(ctx, e, scratch, bigFile, { port: proxy.port, label: `+${2 * DELAY_MS} ms RTT` }, undefined);
    } finally {
      await proxy.close();
    }
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

/**
 * The reference's sequential rates on the same sshd (ops/s for 1 KiB, MB/s otherwise). paramiko
 * reads only ~/.ssh: a HOME of its own names the key and vouches for the host key.
 */
async function measureReference(peer, e, scratch, port) {
  const home = join(scratch, "reference-home");
  mkdirSync(join(home, ".ssh"), { recursive: true, mode: 0o700 });
  writeFileSync(join(home, ".ssh", "config"), `Host 127.0.0.1\n  IdentityFile ${e.BORGSTORE_TEST_SSHD_KEY}\n`);
  writeFileSync(join(home, ".ssh", "known_hosts"), readFileSync(e.BORGSTORE_TEST_SSHD_KNOWN_HOSTS, "utf8"));
  const url = `sftp://${e.BORGSTORE_TEST_SSHD_USER}@127.0.0.1:${port}/${e.BORGSTORE_TEST_SSHD_DATA_DIR}/refbench-${Date.now()}`;
  const ref = startReferenceStore(peer, referenceEnv(peer, { HOME: home, SSH_AUTH_SOCK: "" }), url, CONFIG);
  const rates = {};
  try {
    for (const { size, count, key } of [
      { size: KiB, count: 300, key: "1k" },
      { size: 4 * MiB, count: 12, key: "4m" },
      { size: BIG, count: 1, key: "64" },
    ]) {
      const tag = `${key}-`;
      const stored = await ref.run({ op: "store", ns: "data", tag, size, count });
      const loaded = await ref.run({ op: "load", ns: "data", tag, size, count });
      await ref.run({ op: "delete", ns: "data", tag, size, count });
      rates[`store${key}`] = size === KiB ? stored.opsPerSec : stored.mbPerSec;
      rates[`load${key}`] = size === KiB ? loaded.opsPerSec : loaded.mbPerSec;
    }
  } finally {
    await ref.close();
  }
  return rates;
}

async function runLink(ctx, e, scratch, bigFile, link, reference) {
  const knownHosts = join(scratch, `known_hosts-${link.port}`);
  const line = readFileSync(e.BORGSTORE_TEST_SSHD_KNOWN_HOSTS, "utf8")
    .split("\n")
    .filter((l) => l.startsWith("[127.0.0.1]:"))
    .map((l) => l.replace(/^\[127\.0\.0\.1\]:\d+/, `[127.0.0.1]:${link.port}`))
    .join("\n");
  writeFileSync(knownHosts, `${line}\n`);
  const base = `${e.BORGSTORE_TEST_SSHD_DATA_DIR}/bench-${link.port}-${Date.now()}`;
  const options = { sshConfigFiles: [], agent: false, privateKeys: [e.BORGSTORE_TEST_SSHD_KEY], knownHostsFiles: [knownHosts] };
  const backend = sftpBackendFromUrl(`sftp://${e.BORGSTORE_TEST_SSHD_USER}@127.0.0.1:${link.port}/${base}`, options);
  const store = new Store({ backend, config: CONFIG, latency: 0, bandwidth: 0 });
  await store.create();
  await store.open();
  const ref = (key) => (reference ? { reference: reference[key], referenceLabel: LABEL, target: "≥ ×1", met: undefined } : {});
  const slow = !reference;
  try {
    // 1 KiB and 4 MiB through the Store: a warm-up, then 1 and 16 in flight, each phase on names
    // of its own; all deleted at the end (see the header).
    for (const { size, label, count, refStore, refLoad } of [
      { size: KiB, label: "1 KiB", count: slow ? 200 : 1000, refStore: "store1k", refLoad: "load1k" },
      { size: 4 * MiB, label: "4 MiB", count: slow ? 8 : 24, refStore: "store4m", refLoad: "load4m" },
    ]) {
      const value = randomBytes(size);
      const rates = {};
      let used = 0;
      const names = (n) => {
        const first = used;
        used += n;
        return (i) => keyOf(first + i);
      };
      const warmCount = Math.max(4, Math.round(count / 5));
      const warm = names(warmCount);
      await measure((i) => store.store(warm(i), value), { count: warmCount, inFlight: 4 });
      await measure((i) => store.load(warm(i)), { count: warmCount, inFlight: 4 });
      for (const inFlight of [1, 16]) {
        const n = inFlight === 1 && slow && size === KiB ? 50 : count;
        const name = names(n);
        const s = await measure((i) => store.store(name(i), value), { count: n, inFlight, bytesPerOp: size });
        const l = await measure((i) => store.load(name(i)), { count: n, inFlight, bytesPerOp: size });
        rates[inFlight] = s.opsPerSec;
        const big = size > KiB;
        ctx.report(withTarget({ case: `sftp ${link.label} store ${label} ×${inFlight}`, value: big ? s.mbPerSec : s.opsPerSec, unit: big ? "MB/s" : "ops/s", ...ref(refStore) }));
        ctx.report(withTarget({ case: `sftp ${link.label} load ${label} ×${inFlight}`, value: big ? l.mbPerSec : l.opsPerSec, unit: big ? "MB/s" : "ops/s", ...ref(refLoad) }));
      }
      await measure((i) => store.delete(keyOf(i)), { count: used, inFlight: 16 });
      if (size === KiB)
        ctx.report({
          case: `sftp ${link.label} store 1 KiB: 16 in flight / sequential`,
          value: rates[16] / rates[1],
          unit: "×",
          target: "≥ 5×",
          met: rates[16] / rates[1] >= 5,
        });
    }

    // One 64 MiB object each way, ours and OpenSSH's sftp.
    // Best of ROUNDS for both clients: single 64 MiB runs vary by ±30 % on a shared 2-core machine.
    const big = readFileSync(bigFile);
    let up = 0;
    let down = 0;
    for (let round = 0; round < ROUNDS; round++) {
      let t = performance.now();
      await store.store("big", big);
      up = Math.max(up, mbps(BIG, (performance.now() - t) / 1000));
      t = performance.now();
      const back = await store.load("big");
      down = Math.max(down, mbps(BIG, (performance.now() - t) / 1000));
      if (!Buffer.from(back).equals(big)) throw new Error("64 MiB object came back different");
    }
    // OpenSSH with the cipher we negotiated (like with like), then with its own default.
    const cipher = await negotiatedCipher(link.port);
    const same = await opensshTransfer(e, scratch, link.port, knownHosts, bigFile, `${base}/openssh-big.bin`, cipher);
    const own = await opensshTransfer(e, scratch, link.port, knownHosts, bigFile, `${base}/openssh-big.bin`, undefined);
    ctx.report({ case: `OpenSSH sftp ${link.label} put 64 MiB (${cipher}, as ours)`, value: same.up, unit: "MB/s" });
    ctx.report({ case: `OpenSSH sftp ${link.label} get 64 MiB (${cipher}, as ours)`, value: same.down, unit: "MB/s" });
    ctx.report({ case: `OpenSSH sftp ${link.label} put 64 MiB (${own.cipher}, its default)`, value: own.up, unit: "MB/s" });
    ctx.report({ case: `OpenSSH sftp ${link.label} get 64 MiB (${own.cipher}, its default)`, value: own.down, unit: "MB/s" });
    ctx.report(withTarget({ case: `sftp ${link.label} store 64 MiB (${cipher})`, value: up, unit: "MB/s", ...ref("store64") }));
    ctx.report(withTarget({ case: `sftp ${link.label} load 64 MiB (${cipher})`, value: down, unit: "MB/s", ...ref("load64") }));
    ctx.report({ case: `sftp ${link.label} 64 MiB up: ours / OpenSSH sftp, same cipher (same run)`, value: up / same.up, unit: "×", target: "≥ 1×", met: up >= same.up });
    ctx.report({ case: `sftp ${link.label} 64 MiB down: ours / OpenSSH sftp, same cipher (same run)`, value: down / same.down, unit: "×", target: "≥ 1×", met: down >= same.down });
    ctx.report({ case: `sftp ${link.label} 64 MiB up: ours / OpenSSH sftp, its default cipher`, value: up / own.up, unit: "×" });
    ctx.report({ case: `sftp ${link.label} 64 MiB down: ours / OpenSSH sftp, its default cipher`, value: down / own.down, unit: "×" });
  } finally {
    await store.close();
    await store.destroy().catch(() => {});
  }
}

/** A row with a same-run reference is met when ours is at least the reference's rate. */
function withTarget(row) {
  return row.reference === undefined ? row : { ...row, met: row.value >= row.reference };
}

/**
 * OpenSSH's sftp client moving the 64 MiB file up and down (`sftp -b`), best of ROUNDS. The time
 * of the same session with an empty batch (ssh handshake, login) is subtracted, as our figures
 * exclude opening; its get writes to this machine's temp directory, as ours fills memory.
 */
// Asynchronous: the latency proxy runs in this process and must keep forwarding meanwhile.
const execFileAsync = promisify(execFile);

async function opensshTransfer(e, scratch, port, knownHosts, bigFile, remote, cipher) {
  const args = (batch, verbose) => [
    ...(verbose ? ["-v"] : ["-q"]),
    ...(cipher ? ["-c", cipher] : []),
    "-b", batch, "-P", String(port), "-i", e.BORGSTORE_TEST_SSHD_KEY, "-o", "IdentitiesOnly=yes", "-o", `UserKnownHostsFile=${knownHosts}`, "-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes", `${e.BORGSTORE_TEST_SSHD_USER}@127.0.0.1`,
  ];
  const run = async (commands, verbose = false) => {
    const batch = join(scratch, "batch");
    writeFileSync(batch, `${commands}\n`);
    const started = performance.now();
    const { stderr } = await execFileAsync("sftp", args(batch, verbose), { maxBuffer: 1 << 20 });
    return { seconds: (performance.now() - started) / 1000, stderr };
  };
  // What it negotiated ("debug1: kex: server->client cipher: NAME MAC: …").
  const used = /server->client cipher: (\S+)/.exec((await run("pwd", true)).stderr)?.[1] ?? "?";
  const setup = Math.min((await run("pwd")).seconds, (await run("pwd")).seconds, (await run("pwd")).seconds);
  let up = 0;
  let down = 0;
  for (let round = 0; round < ROUNDS; round++) {
    up = Math.max(up, mbps(BIG, (await run(`put ${bigFile} ${remote}`)).seconds - setup));
    down = Math.max(down, mbps(BIG, (await run(`get ${remote} ${join(scratch, "back.bin")}`)).seconds - setup));
  }
  await run(`rm ${remote}`);
  rmSync(join(scratch, "back.bin"), { force: true });
  return { up, down, cipher: used };
}

/** The cipher ssh2 (with the defaults this backend uses) negotiates with the server: the KEX alone, no login. */
async function negotiatedCipher(port) {
  const client = new ssh2.Client();
  try {
    return await new Promise((resolve, reject) => {
      client.on("handshake", (negotiated) => resolve(negotiated.cs.cipher));
      client.on("error", reject);
      client.connect({ host: "127.0.0.1", port, username: "nobody", authHandler: (_l, _p, next) => next(false), hostVerifier: () => true });
    });
  } finally {
    client.on("error", () => {});
    client.end();
  }
}
