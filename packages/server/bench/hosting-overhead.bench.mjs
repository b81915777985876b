// What the hosting mode adds to a 1 KiB store, in this process (no HTTP, no other process): the
// per-store CPU the end-to-end hosting bench (hosting.bench.mjs) cannot resolve on a shared machine,
// where one round's server CPU per request swings by 2× and two identical builds differ by ±10%.
//   - Layers: a store as the single-store server makes it (BackendHost over the backend: the
//     permission check, then the store) against the hosting mode's (a per-request ViewHost and
//     PermissionView over the repository's BackendHost, UsageLayer and DeleteGraceLayer, with the
//     router's quota reservation), over a MemoryBackend (the layers alone) and over posixfs (with
//     the usage layer's one stat of the replaced value, which keeps the figures exact).
//   - The stat alone: posixfs stores of new names with and without a statSync of the name first.
//   - The spread alone: posixfs stores (no server, no layers) into one store against the same stores
//     taking turns over 100 stores, as the hosting bench's requests do over its 100 repositories.
//   - Routing: the single store's (its Basic credentials, the request target) against
//     HostingRouter.route and done() (htpasswd check, tenant path, policy, fair share, the
//     repository's use, quota reservation, the request's view), over 100 repositories of 10 users.
// Each case alternates its two sides BENCH_OVERHEAD_ROUNDS times (default 9) and reports the medians
// of CPU µs per store (process.cpuUsage) and of the per-round differences.
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { KiB, median } from "../../../scripts/bench/lib.mjs";

const dist = (path) => import(new URL(`../dist/${path}`, import.meta.url).href);
const { MemoryBackend, registerBackend } = await import(new URL("../../core/dist/index.js", import.meta.url).href);
const posixfs = await import(new URL("../../backend-posixfs/dist/index.js", import.meta.url).href);
registerBackend(posixfs.plugin);
const { BackendHost } = await dist("backend-host.js");
const { UsageLayer } = await dist("hosting/usage-layer.js");
const { UserUsage } = await dist("hosting/usage.js");
const { PermissionView } = await dist("hosting/permission-view.js");
const { ViewHost } = await dist("hosting/view-host.js");
const { DeleteGraceLayer } = await dist("hosting/delete-grace-layer.js");
const { loadHostingConfig } = await dist("hosting/config.js");
const { HtpasswdFile } = await dist("hosting/htpasswd.js");
const { Repositories } = await dist("hosting/repositories.js");
const { UsageRecords } = await dist("hosting/usage-records.js");
const { DiscoveredRepositories } = await dist("hosting/discovered-repositories.js");
const { DeleteGraceService } = await dist("hosting/delete-grace.js");
const { FairShare } = await dist("hosting/fair-share.js");
const { HostingRouter } = await dist("hosting/router.js");
const { checkCredentials, isAuthorized } = await dist("auth.js");
const { parseRequestTarget } = await dist("request-target.js");
const bcrypt = createRequire(import.meta.url)("bcryptjs");

const IN_FLIGHT = 16;
const value = randomBytes(KiB);
const signal = new AbortController().signal;

/** CPU µs per call of `op(i)` over `count` calls, IN_FLIGHT at a time. */
async function cpuPerCall(op, count) {
  let next = 0;
  const before = process.cpuUsage();
  await Promise.all(
    Array.from({ length: IN_FLIGHT }, async () => {
      while (next < count) await op(next++);
    }),
  );
  const used = process.cpuUsage(before);
  return (used.user + used.system) / count;
}

/**
 * Both sides taking turns, each run on a fresh op from its factory (new names each time): their
 * medians and the median of the per-round differences (b − a).
 */
async function paired(makeA, makeB, rounds, count) {
  await cpuPerCall(makeA(), count);
  await cpuPerCall(makeB(), count);
  const as = [];
  const bs = [];
  for (let round = 0; round < rounds; round++) {
    as.push(await cpuPerCall(makeA(), count));
    bs.push(await cpuPerCall(makeB(), count));
  }
  return { a: median(as), b: median(bs), diff: median(bs.map((x, i) => x - as[i])) };
}

async function opened(backend) {
  await backend.create();
  await backend.open();
  return backend;
}

/** A store as operations.ts makes it: the permission check, then the store, each through the host. */
function storeThrough(host, name) {
  return host.use((b) => b.checkStorePermission(name, { signal }), signal).then(() => host.use((b) => b.store(name, value, { signal }), signal));
}

/** The single store's path and the hosting mode's, over backends made by `make`. */
async function layerSides(make) {
  const single = new BackendHost(await opened(make("single")));
  const usage = new UserUsage("user0");
  // No grace configured (the default): the layer is there, it keeps nothing.
  const grace = new DeleteGraceLayer(await opened(make("hosted")), undefined, () => undefined, { reserve: () => () => {}, apply: () => {} });
  const store = new UsageLayer(grace, usage.repo("repo0"), () => ({}), async () => {});
  const shared = new BackendHost(store);
  let generation = 0;
  const names = () => {
    const g = generation++;
    return (i) => `data/k${g}-${i}`;
  };
  return {
    single: () => {
      const name = names();
      return (i) => storeThrough(single, name(i));
    },
    hosting: () => {
      const name = names();
      return (i) => {
        const giveBack = store.usage.reserve(value.byteLength, {});
        const host = new ViewHost(shared, new PermissionView(store, undefined, () => {}));
        return storeThrough(host, name(i)).finally(giveBack);
      };
    },
  };
}

async function routingCost(work, rounds, count) {
  mkdirSync(work);
  const users = Array.from({ length: 10 }, (_, u) => `user${u}`);
  writeFileSync(join(work, "htpasswd"), users.map((u) => `${u}:${bcrypt.hashSync("pw", 4)}\n`).join(""));
  writeFileSync(
    join(work, "hosting.toml"),
    `htpasswd = "${join(work, "htpasswd")}"\nstate_dir = "${join(work, "state")}"\n[listen]\nport = 1\n[repositories]\nbackend = "file://${work}/repos/{user}/{repo}"\nauto_create = true\n`,
  );
  const config = await loadHostingConfig(join(work, "hosting.toml"));
  const htpasswd = await HtpasswdFile.open(config.htpasswd, { onReload() {} });
  const records = new DiscoveredRepositories(new UsageRecords(config.stateDir), () => config.repositories.backend);
  const repositories = new Repositories(() => config, records, { grace: new DeleteGraceService(() => config) });
  const router = new HostingRouter({ config: () => config, checker: htpasswd.checker, repositories, fairShare: new FairShare() });
  const auth = Object.fromEntries(users.map((u) => [u, `Basic ${Buffer.from(`${u}:pw`).toString("base64")}`]));
  const repos = users.flatMap((user) => Array.from({ length: 10 }, (_, r) => ({ user, prefix: `/${user}/repo${r}` })));
  // A response already sent: done() gives the fair-share turn back at once.
  const outgoing = { writableFinished: true, destroyed: false };
  const route = (method, url, user) =>
    router.route({ incoming: { method, url, headers: { authorization: auth[user], "content-length": String(KiB) } }, outgoing, signal });
  try {
    for (const { user, prefix } of repos) {
      const routed = await route("POST", `${prefix}/?cmd=create`, user);
      await routed.host.alone((b) => b.create());
      routed.done();
    }
    // The single store's route (app.ts): one login's credentials, then the target.
    const credentials = checkCredentials({ username: "user0", password: "pw" });
    const single = () => async (i) => {
      if (!isAuthorized(auth.user0, credentials)) throw new Error("refused");
      parseRequestTarget(`/data/k${i}`);
    };
    const hosting = () => async (i) => {
      const { user, prefix } = repos[i % repos.length];
      (await route("POST", `${prefix}/data/k${i}`, user)).done();
    };
    return await paired(single, hosting, rounds, count);
  } finally {
    await router.close();
    htpasswd.checker.close();
  }
}

export default async function bench(ctx) {
  const rounds = Number(ctx.env.BENCH_OVERHEAD_ROUNDS ?? 9);
  const count = Number(ctx.env.BENCH_OVERHEAD_COUNT ?? 4000);
  const work = mkdtempSync(join(tmpdir(), "borgstore-bench-hosting-overhead-"));
  try {
    const cases = [
      ["MemoryBackend", () => new MemoryBackend()],
      ["posixfs", (dir) => new posixfs.PosixFsBackend(join(work, dir))],
    ];
    for (const [label, make] of cases) {
      const sides = await layerSides(make);
      const r = await paired(sides.single, sides.hosting, rounds, count);
      ctx.report({ case: `${label}: 1 KiB store, single store's path, CPU per store`, value: r.a, unit: "µs" });
      ctx.report({ case: `${label}: 1 KiB store, hosting's layers, CPU per store`, value: r.b, unit: "µs" });
      ctx.report({ case: `${label}: hosting's layers add per store (median of paired rounds)`, value: r.diff, unit: "µs" });
    }

    const plain = await opened(new posixfs.PosixFsBackend(join(work, "stat")));
    let generation = 0;
    const side = (withStat) => () => {
      const g = generation++;
      return async (i) => {
        const name = `data/k${g}-${i}`;
        if (withStat) statSync(`${plain.base}/${name}`, { throwIfNoEntry: false });
        await plain.store(name, value);
      };
    };
    const stat = await paired(side(false), side(true), rounds, count);
    ctx.report({ case: "posixfs: a statSync before each 1 KiB store of a new name adds (median of paired rounds)", value: stat.diff, unit: "µs" });

    const one = [await opened(new posixfs.PosixFsBackend(join(work, "one")))];
    const hundred = [];
    for (let i = 0; i < 100; i++) hundred.push(await opened(new posixfs.PosixFsBackend(join(work, `spread/r${i}`))));
    const storesOver = (stores) => () => {
      const g = generation++;
      return (i) => stores[i % stores.length].store(`data/k${g}-${i}`, value);
    };
    const spread = await paired(storesOver(one), storesOver(hundred), rounds, count);
    ctx.report({ case: "posixfs alone: 1 KiB stores into one store, CPU per store", value: spread.a, unit: "µs" });
    ctx.report({ case: "posixfs alone: 1 KiB stores taking turns over 100 stores, CPU per store", value: spread.b, unit: "µs" });
    ctx.report({ case: "posixfs alone: spreading over 100 stores adds (median of paired rounds)", value: spread.diff, unit: "µs" });

    const routing = await routingCost(join(work, "routing"), rounds, count);
    ctx.report({ case: "routing: single store's route per request", value: routing.a, unit: "µs" });
    ctx.report({ case: "routing: HostingRouter.route + done per request (100 repositories of 10 users)", value: routing.b, unit: "µs" });
    ctx.report({ case: "routing: hosting's adds per request (median of paired rounds)", value: routing.diff, unit: "µs" });
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
