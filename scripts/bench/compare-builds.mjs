// Before/after of a change in one run: this checkout's bench suites against an older commit's build
// and against this checkout's build, taking turns, with new÷old per row.
//   node scripts/bench/compare-builds.mjs [--base COMMIT] [--rounds N] [SUITE…]
// COMMIT (default 952247e, issue 15's base) is checked out in a temp git worktree
// (/tmp/borgstore-bench-base-COMMIT, kept for the next run), installed and built there. SUITEs are
// paths below packages/ (default: backend-posixfs/bench/store.bench.mjs server/bench/rest.bench.mjs).
// Both builds run the SAME suite files, this checkout's: each is copied into the old tree beside
// its package (with scripts/bench/lib.mjs and the reference driver) so that its imports resolve to
// the old build; only @borgstore/testkit, which merely finds the Python reference, stays this
// checkout's. Each suite runs in a child process per build, rounds alternating which build goes
// first (old/new, then new/old) so a shared machine's drift hits both alike; the table shows each
// row's median over the rounds and new÷old. CPU: the suite process's own CPU seconds (our client
// side and in-process stores) and its children's (for rest: our server; for posixfs: the Python
// reference), per run, medians. Short durations: BORGSTORE_BENCH_LIST_ITEMS (default here 10000)
// and BENCH_REST_SIZES (default here "1024,4194304") are set unless given.
// Run it under `flock /tmp/timing.lock` on a shared machine, and read the load average it prints.
import { execFileSync, spawn } from "node:child_process";
import { cpSync, existsSync, readFileSync, writeFileSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { median } from "./lib.mjs";

const here = resolve(import.meta.dirname, "../..");
const args = process.argv.slice(2);

if (args[0] === "--child") await runChild(args[1]);
else await compare();

/** In a child: runs one suite file, prints its rows and this process's CPU as one JSON line. */
async function runChild(suite) {
  const rows = [];
  const mod = await import(pathToFileURL(suite).href);
  try {
    await mod.default({
      env: process.env,
      report: (row) => rows.push(row),
      missing: (what) => {
        throw new Error(`missing ${what}`);
      },
    });
  } catch (err) {
    rows.push({ case: "suite failed", status: "FAILED", error: String(err?.message ?? err) });
  }
  const own = process.cpuUsage();
  // /proc/self/stat fields 16 and 17: CPU of the children this process waited for, in clock ticks.
  const stat = readFileSync("/proc/self/stat", "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const ticks = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }));
  const children = (Number(fields[13]) + Number(fields[14])) / ticks;
  process.stdout.write(`\n@@rows ${JSON.stringify({ rows, cpu: { own: (own.user + own.system) / 1e6, children } })}\n`);
  process.exit(0);
}

function option(name, fallback) {
  const at = args.indexOf(name);
  if (at === -1) return fallback;
  const value = args[at + 1];
  args.splice(at, 2);
  return value;
}

function sh(cwd, command, commandArgs) {
  execFileSync(command, commandArgs, { cwd, stdio: ["ignore", "ignore", "inherit"] });
}

/** The old commit's worktree, installed and built (reused when it is there already). */
function baseTree(commit) {
  const sha = execFileSync("git", ["rev-parse", "--short", commit], { cwd: here, encoding: "utf8" }).trim();
  const dir = `/tmp/borgstore-bench-base-${sha}`;
  if (!existsSync(join(dir, "packages/server/dist/cli.js"))) {
    if (!existsSync(dir)) sh(here, "git", ["worktree", "add", "--detach", dir, sha]);
    process.stderr.write(`compare: installing and building ${sha} in ${dir}\n`);
    sh(dir, "pnpm", ["install", "--frozen-lockfile", "--prefer-offline"]);
    sh(dir, "pnpm", ["turbo", "run", "build", "--output-logs=errors-only"]);
  }
  return { dir, sha };
}

/** This checkout's suite and its helpers, copied into `tree` so that the suite runs on that tree's build. */
function overlay(tree, suite) {
  const target = join(tree, "packages", suite);
  const testkit = pathToFileURL(join(here, "packages/testkit/dist/index.js")).href;
  const text = readFileSync(join(here, "packages", suite), "utf8").replaceAll('from "@borgstore/testkit"', `from "${testkit}"`);
  writeFileSync(target, text);
  for (const helper of ["lib.mjs", "reference-store-driver.py"]) cpSync(join(here, "scripts/bench", helper), join(tree, "scripts/bench", helper));
  return target;
}

function runSuite(suitePath, env) {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, ["--expose-gc", join(here, "scripts/bench/compare-builds.mjs"), "--child", suitePath], {
      // The new checkout as working directory for both: the testkit finds ../shared/reference from it.
      cwd: here,
      env,
      stdio: ["ignore", "pipe", "inherit"],
    });
    let out = "";
    child.stdout.setEncoding("utf8").on("data", (t) => {
      out += t;
    });
    child.once("exit", (code) => {
      const line = out.split("\n").find((l) => l.startsWith("@@rows "));
      if (!line) reject(new Error(`${suitePath} exited with ${code} and no rows`));
      else resolvePromise(JSON.parse(line.slice("@@rows ".length)));
    });
  });
}

async function compare() {
  const commit = option("--base", "952247e");
  const rounds = Number(option("--rounds", "2"));
  const suites = args.length > 0 ? args : ["backend-posixfs/bench/store.bench.mjs", "server/bench/rest.bench.mjs"];
  const base = baseTree(commit);
  const head = execFileSync("git", ["rev-parse", "--short", "HEAD"], { cwd: here, encoding: "utf8" }).trim();
  const env = { BORGSTORE_BENCH_LIST_ITEMS: "10000", BENCH_REST_SIZES: "1024,4194304", ...process.env };
  const load = [loadavg()[0]];
  console.log(`compare: old = ${base.sha} (${base.dir}), new = ${head} (working tree ${here}); ${rounds} rounds; load average ${loadavg().map((l) => l.toFixed(1)).join(" ")}`);
  for (const suite of suites) {
    const paths = { old: overlay(base.dir, suite), new: join(here, "packages", suite) };
    /** case → { unit, old: [values], new: [values] } */
    const cases = new Map();
    const cpu = { old: [], new: [] };
    for (let r = 0; r < rounds; r++) {
      for (const name of r % 2 === 0 ? ["old", "new"] : ["new", "old"]) {
        process.stderr.write(`compare: ${suite} round ${r + 1}/${rounds}: ${name}\n`);
        const result = await runSuite(paths[name], env);
        load.push(loadavg()[0]);
        cpu[name].push(result.cpu);
        for (const row of result.rows) {
          const entry = cases.get(row.case) ?? { unit: row.unit ?? row.status ?? "", old: [], new: [] };
          entry[name].push(row.value ?? Number.NaN);
          cases.set(row.case, entry);
        }
      }
    }
    printTable(suite, cases, cpu);
  }
  console.log(`\nload average (1 min) during the run: min ${Math.min(...load).toFixed(1)}, max ${Math.max(...load).toFixed(1)} (${cpus().length} CPUs)`);
}

function printTable(suite, cases, cpu) {
  const fmt = (n) => (Number.isNaN(n) ? "—" : n >= 100 ? Math.round(n).toLocaleString("en") : n.toFixed(2));
  const rows = [...cases].map(([name, e]) => {
    const [o, n] = [median(e.old), median(e.new)];
    return [name, e.unit, fmt(o), fmt(n), Number.isFinite(n / o) ? `${(n / o).toFixed(3)}` : ""];
  });
  const own = (name) => median(cpu[name].map((c) => c.own));
  const kids = (name) => median(cpu[name].map((c) => c.children));
  rows.push(["CPU s, suite process (median per run)", "s", fmt(own("old")), fmt(own("new")), (own("new") / own("old")).toFixed(3)]);
  rows.push(["CPU s, its children (median per run)", "s", fmt(kids("old")), fmt(kids("new")), (kids("new") / kids("old")).toFixed(3)]);
  const header = ["case", "unit", "old", "new", "new÷old"];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i]).length)));
  const line = (cells) => cells.map((c, i) => (i >= 2 ? String(c).padStart(widths[i]) : String(c).padEnd(widths[i]))).join("  ");
  console.log(`\n${suite}`);
  console.log(line(header));
  console.log(widths.map((w) => "-".repeat(w)).join("  "));
  for (const r of rows) console.log(line(r));
}
