import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { beforeAll, describe, expect, it } from "vitest";

const packageDir = fileURLToPath(new URL("..", import.meta.url));
const vitestBin = join(packageDir, "node_modules", ".bin", "vitest");

interface AssertionResult {
  ancestorTitles: string[];
  title: string;
  status: string;
}

/** Failed tests of the fixture run, as "topic › title" per suite name. */
let failures: Map<string, string[]>;

beforeAll(async () => {
  const dir = await mkdtemp(join(tmpdir(), "testkit-broken-"));
  const report = join(dir, "report.json");
  // vitest sets these for its workers; the nested run must start as a fresh top-level run.
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("VITEST") && k !== "TEST"));
  try {
    await promisify(execFile)(
      vitestBin,
      ["run", "--config", "test/fixtures/vitest.config.ts", "--reporter=json", `--outputFile=${report}`],
      { cwd: packageDir, env, maxBuffer: 64 * 1024 * 1024 },
    ).catch((err: { code?: number }) => {
      if (err.code !== 1) throw err; // 1 = some tests failed, which is the point
    });
    const results = JSON.parse(await readFile(report, "utf8")) as { testResults: Array<{ assertionResults: AssertionResult[] }> };
    failures = new Map();
    for (const file of results.testResults)
      for (const test of file.assertionResults) {
        if (test.status !== "failed") continue;
        const suite = (test.ancestorTitles[0] ?? "").replace(/ conformance$/, "");
        const list = failures.get(suite) ?? [];
        list.push(`${test.ancestorTitles.at(-1)} › ${test.title}`);
        failures.set(suite, list);
      }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}, 120_000);

function failed(suite: string): string[] {
  return failures.get(suite) ?? [];
}

describe("the suite catches a backend with one defect", () => {
  it("a store that shows half a value for a moment fails the readers-during-overwrites race", () => {
    expect(failed("torn-write")).toContain(
      "concurrency › readers during concurrent stores to one name always see one whole value, never a gap or a mix",
    );
  });

  it("a storeStream that publishes before its source ended fails the mismatch and failing-source tests", () => {
    expect(failed("eager-stream")).toEqual(
      expect.arrayContaining([
        "streaming › storeStream with fewer bytes than its size fails with CONTENT_LENGTH_MISMATCH and stores nothing",
        "streaming › storeStream with a wrong sha256 fails with CONTENT_HASH_MISMATCH and stores nothing",
        "streaming › a source that throws midway fails the store with its error and leaves nothing visible",
        "streaming › an object is invisible while its storeStream is under way, and whole afterwards",
      ]),
    );
  });

  it("a whole load read in two halves from whatever the name holds fails the read races", () => {
    expect(failed("torn-read")).toContain(
      "read races › whole loads and loadStreams racing overwrites with values of other sizes, deletes and moves return one whole stored value or OBJECT_NOT_FOUND",
    );
  });

  it("a loadStream sized by a second look-up of the name fails the read races (issue 11)", () => {
    expect(failed("size-by-name-stream")).toEqual(
      expect.arrayContaining([
        "read races › whole loads and loadStreams racing overwrites with values of other sizes, deletes and moves return one whole stored value or OBJECT_NOT_FOUND",
        "read races › partial loads and loadStreams (offset, size, from the end) racing overwrites with values of other sizes return the right slice of one stored value",
      ]),
    );
  });

  it("an unsorted list fails the list tests", () => {
    expect(failed("unsorted-list")).toContain("list › names come sorted by code point, directories among objects");
  });

  it("an uncoded error for a missing object fails the error-code tests", () => {
    expect(failed("uncoded-error")).toContain("errors › load of a missing object fails with OBJECT_NOT_FOUND naming it");
  });

  it("negative offsets counted from the start fail the partial-load tests", () => {
    expect(failed("absolute-offset")).toContain("partial loads › size, offset and negative offset select the right bytes");
  });

  it("atime in milliseconds fails the atime check", () => {
    expect(failed("millisecond-atime")).toContain("list › info reports atime in seconds");
  });

  it("knownFailures: a listed test the peer fails counts as passed; once the peer passes it, it fails", () => {
    const sorted = (t: string) => t.startsWith("list › names come sorted by code point");
    expect(failed("known-unsorted").filter(sorted)).toEqual([]);
    expect(failed("known-but-fixed").filter(sorted)).toHaveLength(1);
    expect(failed("known-but-fixed").filter((t) => !sorted(t))).toEqual([]);
  });

  it("each defect fails only tests of what it breaks, not the lifecycle basics", () => {
    for (const [suite, tests] of failures)
      expect(tests.filter((t) => t.startsWith("lifecycle ›")), suite).toEqual([]);
  });
});
