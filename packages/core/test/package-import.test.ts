import { mkdirSync, mkdtempSync, realpathSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { BackendNotInstalled, backendFromUrl } from "../src/index.js";

// Where core looks for a first-party backend that it cannot import by name (pnpm's isolated
// node_modules): the node_modules folders above the working directory and above the main script.
// Each test installs a fake @borgstore/backend-sftp (core does not depend on it, so the import by
// name fails for real) in a fresh application directory.

let appDir: string;
let savedMain: string | undefined;
beforeEach(() => {
  appDir = realpathSync(mkdtempSync(join(tmpdir(), "borgstore-app-")));
  savedMain = process.argv[1];
});
afterEach(() => {
  process.argv[1] = savedMain as string;
  vi.restoreAllMocks();
  rmSync(appDir, { recursive: true, force: true });
});

/** Installs the fake package in `at`/node_modules with `manifest` and its files (path → entry tag). */
function install(at: string, manifest: object, files: Record<string, string>): void {
  const pkg = join(at, "node_modules", "@borgstore", "backend-sftp");
  mkdirSync(pkg, { recursive: true });
  writeFileSync(join(pkg, "package.json"), JSON.stringify({ name: "@borgstore/backend-sftp", type: "module", ...manifest }));
  for (const [path, tag] of Object.entries(files)) {
    mkdirSync(dirname(join(pkg, path)), { recursive: true });
    writeFileSync(
      join(pkg, path),
      `export const plugin = { schemes: ["sftp"], fromUrl: (url) => ({ url, entry: ${JSON.stringify(tag)} }) };`,
    );
  }
}

/** Runs as an application whose working directory is `cwd` and whose main script is `main`. */
function runAs(cwd: string, main: string | undefined): void {
  // A test worker cannot chdir (Stryker runs tests in worker threads): the working directory is stubbed.
  vi.spyOn(process, "cwd").mockReturnValue(cwd);
  process.argv[1] = main as string;
}

async function entryFor(url = "sftp://host/path"): Promise<unknown> {
  return ((await backendFromUrl(url)) as unknown as { entry: string }).entry;
}

describe("finding a backend the application installed", () => {
  it("looks above the working directory, several levels up, when the main script does not exist", async () => {
    install(appDir, { exports: { ".": { import: "./dist/index.js" } } }, { "dist/index.js": "from-cwd" });
    const deep = join(appDir, "src", "deeper");
    mkdirSync(deep, { recursive: true });
    runAs(deep, join(appDir, "no-such-main.js"));
    expect(await entryFor()).toBe("from-cwd");
  });

  it("looks above the main script's directory when the working directory has no such package", async () => {
    install(appDir, { exports: "./main-entry.js" }, { "main-entry.js": "from-main" });
    const bin = join(appDir, "bin");
    mkdirSync(bin);
    writeFileSync(join(bin, "cli.js"), "");
    runAs(tmpdir(), join(bin, "cli.js"));
    expect(await entryFor()).toBe("from-main");
  });

  it("names the package to install when neither place has it, even without a main script", async () => {
    runAs(appDir, undefined);
    const err = await backendFromUrl("sftp://host/path").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BackendNotInstalled);
  });
});

describe("the entry point taken from the package's manifest", () => {
  it.each([
    ["exports as a string", { exports: "./string.js" }, { "string.js": "string" }],
    ["exports as conditions without '.'", { exports: { import: "./cond.js", default: "./wrong.js" } }, { "cond.js": "conditions", "wrong.js": "wrong" }],
    ["nested conditions under '.'", { exports: { ".": { node: { import: "./nested.js" } } } }, { "nested.js": "nested" }],
    ["'default' when there is no 'import'", { exports: { ".": { default: "./def.js" } } }, { "def.js": "default" }],
    ["main without exports", { main: "lib/main.js" }, { "lib/main.js": "main", "index.js": "wrong" }],
    ["index.js without exports or main", {}, { "index.js": "index" }],
  ])("uses %s", async (_, manifest, files) => {
    install(appDir, manifest, files);
    runAs(appDir, undefined);
    const tag = Object.values(files)[0];
    expect(await entryFor()).toBe(tag);
  });
});
