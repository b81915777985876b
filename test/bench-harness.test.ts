// scripts/bench/run.mjs (`pnpm bench`) on fixture suites (test/fixtures/bench-harness): a run that
// could not measure something must say so in the table and in its exit status.
import { spawnSync } from "node:child_process";
import { cpSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";

const RUN = join(import.meta.dirname, "..", "scripts", "bench", "run.mjs");
const FIXTURES = join(import.meta.dirname, "fixtures", "bench-harness");
const roots: string[] = [];

function bench(...args: string[]) {
  const root = mkdtempSync(join(tmpdir(), "borgstore-bench-harness-"));
  roots.push(root);
  cpSync(FIXTURES, root, { recursive: true });
  const env: NodeJS.ProcessEnv = { ...process.env, BORGSTORE_BENCH_ROOT: root };
  delete env.BORGSTORE_TEST_DEMO_URL;
  const r = spawnSync(process.execPath, [RUN, ...args], { env, encoding: "utf8", timeout: 30_000 });
  const rowsOf = () => JSON.parse(readFileSync(join(root, "bench-results", "latest.json"), "utf8")).rows;
  return { status: r.status, stdout: r.stdout, stderr: r.stderr, rowsOf };
}

/** The printed table's line for `text`. */
const lineWith = (stdout: string, text: string) => stdout.split("\n").find((l) => l.includes(text));

afterEach(() => {
  for (const root of roots.splice(0)) rmSync(root, { recursive: true, force: true });
});

describe("pnpm bench (scripts/bench/run.mjs)", () => {
  it("exits 0 when every suite ran and every target was met, showing the targets as met", () => {
    const r = bench("passing");
    expect(r.status, r.stderr).toBe(0);
    expect(lineWith(r.stdout, "fast path")).toMatch(/×2\.00\s+≥ 1\.0: met/);
    expect(lineWith(r.stdout, "no target")).toBeDefined();
  });

  it("exits non-zero when a suite throws, with a row naming the failure, and still runs the other suites", () => {
    const r = bench("failing", "passing");
    expect(r.status).toBe(1);
    expect(lineWith(r.stdout, "suite failed")).toMatch(/demo\/bench\/failing\.bench\.mjs.*FAILED: disk on fire/);
    expect(lineWith(r.stdout, "before the failure")).toBeDefined();
    expect(lineWith(r.stdout, "fast path")).toBeDefined();
    expect(r.stdout).toMatch(/1 suite\(s\) failed: demo\/bench\/failing\.bench\.mjs/);
  });

  it("exits non-zero when a suite cannot even be loaded", () => {
    const r = bench("import-error");
    expect(r.status).toBe(1);
    expect(lineWith(r.stdout, "suite failed")).toMatch(/FAILED: cannot load this suite/);
  });

  it("exits non-zero when a suite's server is missing, with a 'not run' row saying what is missing", () => {
    const r = bench("missing-server");
    expect(r.status).toBe(1);
    expect(lineWith(r.stdout, "not run")).toMatch(/missing-server\.bench\.mjs.*NOT RUN: missing BORGSTORE_TEST_DEMO_URL \(demo server\)/);
    expect(r.rowsOf()).toEqual([expect.objectContaining({ case: "not run", status: "NOT RUN" })]);
  });

  it("exits non-zero when a suite reports nothing (it must not vanish from the table)", () => {
    const r = bench("silent");
    expect(r.status).toBe(1);
    expect(lineWith(r.stdout, "silent.bench.mjs")).toMatch(/suite reported nothing.*FAILED/);
  });

  it("exits non-zero when a target is MISSED, structured (met: false) or in the target's text", () => {
    const r = bench("missed-target");
    expect(r.status).toBe(1);
    expect(lineWith(r.stdout, "structured miss")).toMatch(/×0\.50\s+≥ 1\.0: MISSED/);
    expect(lineWith(r.stdout, "textual miss")).toMatch(/≥ 1: MISSED/);
    expect(r.stdout).toMatch(/2 target\(s\) MISSED: /);
    expect(r.rowsOf().every((row: { missed?: boolean }) => row.missed === true)).toBe(true);
  });

  it("still shows missed targets but exits 0 with --no-fail-targets", () => {
    const r = bench("missed-target", "--no-fail-targets");
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/2 target\(s\) MISSED \(not failing: --no-fail-targets\)/);
  });

  it("does not let --no-fail-targets hide a failed suite", () => {
    expect(bench("failing", "--no-fail-targets").status).toBe(1);
  });

  it("exits non-zero when no suite matches the names given, and on an unknown option", () => {
    expect(bench("no-such-suite").status).toBe(1);
    expect(bench("passing", "--fail-targets-not").status).toBe(2);
  });
});
