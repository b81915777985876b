import { mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import {
  Backend,
  BackendNotInstalled,
  type BackendPlugin,
  BackendURLInvalid,
  BUILTIN_SCHEMES,
  ErrorCodes,
  InvalidArgument,
  MemoryBackend,
  backendFromUrl,
  redactUrl,
  registerBackend,
  unregisterBackend,
} from "../src/index.js";

class TaggedMemory extends MemoryBackend {
  constructor(readonly url: string) {
    super();
  }
}

const demoPlugin: BackendPlugin = {
  schemes: ["demo"],
  fromUrl: (url) => (url.startsWith("demo:ok") ? new TaggedMemory(url) : undefined),
};

afterEach(() => {
  unregisterBackend("demo");
  unregisterBackend("file");
});

/**
 * An application directory outside the workspace: its main script is what core's fallback
 * resolution looks above (besides the working directory, packages/core, where no backend is).
 */
let appDir: string;
let savedMain: string | undefined;
beforeAll(() => {
  appDir = mkdtempSync(join(tmpdir(), "borgstore-app-"));
  writeFileSync(join(appDir, "main.js"), "");
  savedMain = process.argv[1];
  process.argv[1] = join(appDir, "main.js");
});
afterAll(() => {
  process.argv[1] = savedMain as string;
  rmSync(appDir, { recursive: true, force: true });
});

describe("backendFromUrl", () => {
  it("gives a fresh in-memory backend for memory:", async () => {
    const a = await backendFromUrl("memory:");
    const b = await backendFromUrl("memory:");
    expect(a).toBeInstanceOf(MemoryBackend);
    await a.create();
    await b.create(); // a separate store: not "already exists"
    expect(a.location).toBe("memory:");
  });

  it("gives the same process-wide store for memory://NAME across instances and reopen", async () => {
    MemoryBackend.forget("url-shared");
    const a = await backendFromUrl("memory://url-shared");
    await a.create();
    await a.open();
    await a.store("x", new Uint8Array([1, 2, 3]));
    await a.close();
    const b = await backendFromUrl("memory://url-shared");
    await b.open();
    expect([...(await b.load("x"))]).toEqual([1, 2, 3]);
    await b.close();
    expect(b.location).toBe("memory://url-shared");
  });

  it("rejects unknown schemes and non-URLs with BackendURLInvalid", async () => {
    for (const url of ["nope://x", "just-a-path", "/abs/path", "", "memory:/x", "memory://a/b"]) {
      await expect(backendFromUrl(url)).rejects.toBeInstanceOf(BackendURLInvalid);
    }
  });

  it("never shows credentials in error messages", async () => {
    expect(redactUrl("nope://user:secret@host/x")).toBe("nope://***@host/x");
    expect(redactUrl("s3:key:secret@http://h:9000/b/p")).toBe("s3:***@http://h:9000/b/p");
    const err = await backendFromUrl("nope://user:secret@host/x").catch((e) => e);
    expect(err.message).not.toContain("secret");
  });

  it("rejects a quota for a backend that cannot enforce one with InvalidArgument", async () => {
    await expect(backendFromUrl("memory:", { quota: 1000 })).rejects.toBeInstanceOf(InvalidArgument);
  });

  it("passes permissions to the backend, which core enforces", async () => {
    const backend = await backendFromUrl("memory:", { permissions: { "": "l" } });
    await expect(backend.create()).rejects.toMatchObject({ code: ErrorCodes.PERMISSION_DENIED });
  });

  it.each(
    Object.entries(BUILTIN_SCHEMES).filter(([scheme]) => scheme !== "file"),
  )("names the package to install for %s: URLs when it is missing (%s)", async (scheme, packageName) => {
    // core does not depend on the backend packages, so Node resolution from here must fail for real.
    const url = scheme === "rclone" || scheme === "s3" || scheme === "b2" ? `${scheme}:/bucket/path` : `${scheme}://host/path`;
    const err = await backendFromUrl(url).catch((e) => e);
    expect(err).toBeInstanceOf(BackendNotInstalled);
    expect(err.code).toBe(ErrorCodes.BACKEND_NOT_INSTALLED);
    expect(err.packageName).toBe(packageName);
    expect(err.message).toContain(`npm install ${packageName}`);
  });

  it("names @borgstore/backend-posixfs for file: URLs when it is missing", async () => {
    const err = await backendFromUrl("file:///tmp/x").catch((e) => e);
    expect(err).toBeInstanceOf(BackendNotInstalled);
    expect(err.message).toContain("npm install @borgstore/backend-posixfs");
  });
});

describe("backendFromUrl under an isolated (pnpm) node_modules", () => {
  it("finds a first-party backend the application installed, though core cannot import it by name", async () => {
    const pkg = join(appDir, "node_modules", "@borgstore", "backend-rclone");
    mkdirSync(join(pkg, "dist"), { recursive: true });
    writeFileSync(
      join(pkg, "package.json"),
      JSON.stringify({ name: "@borgstore/backend-rclone", type: "module", exports: { ".": { types: "./x.d.ts", import: "./dist/index.js" } } }),
    );
    writeFileSync(
      join(pkg, "dist", "index.js"),
      `import { MemoryBackend } from ${JSON.stringify(new URL("../dist/index.js", import.meta.url).href)};
       export const plugin = { schemes: ["rclone"], fromUrl: (url) => Object.assign(new MemoryBackend(), { fromApp: url }) };`,
    );
    try {
      const backend = await backendFromUrl("rclone:remote:path");
      expect((backend as unknown as { fromApp: string }).fromApp).toBe("rclone:remote:path");
    } finally {
      rmSync(join(appDir, "node_modules"), { recursive: true, force: true });
    }
  });
});

describe("backendFromUrl resolves an application's package as Node does", () => {
  it("loads a symlinked (pnpm-linked) package once: the plugin is the module the application itself imports", async () => {
    const real = join(appDir, "store", "backend-sftp");
    mkdirSync(join(real, "dist"), { recursive: true });
    writeFileSync(
      join(real, "package.json"),
      JSON.stringify({ name: "@borgstore/backend-sftp", type: "module", exports: { ".": { import: "./dist/index.js" } } }),
    );
    writeFileSync(
      join(real, "dist", "index.js"),
      `import { MemoryBackend } from ${JSON.stringify(new URL("../dist/index.js", import.meta.url).href)};
       export const plugin = { schemes: ["sftp"], fromUrl: () => Object.assign(new MemoryBackend(), { plugin }) };`,
    );
    mkdirSync(join(appDir, "node_modules", "@borgstore"), { recursive: true });
    symlinkSync(real, join(appDir, "node_modules", "@borgstore", "backend-sftp"), "dir");
    try {
      // Node follows the link: the application's own import of the package is the real path's module.
      const applications = await import(pathToFileURL(realpathSync(join(appDir, "node_modules/@borgstore/backend-sftp/dist/index.js"))).href);
      const backend = (await backendFromUrl("sftp://host/path")) as unknown as { plugin: unknown };
      expect(backend.plugin).toBe(applications.plugin);
    } finally {
      rmSync(join(appDir, "node_modules"), { recursive: true, force: true });
      rmSync(join(appDir, "store"), { recursive: true, force: true });
    }
  });
});

describe("registerBackend", () => {
  it("lets a community package serve its own scheme", async () => {
    registerBackend(demoPlugin);
    const backend = await backendFromUrl("demo:ok/1");
    expect(backend).toBeInstanceOf(TaggedMemory);
    expect((backend as TaggedMemory).url).toBe("demo:ok/1");
  });

  it("treats a URL the plugin returns undefined for as BackendURLInvalid", async () => {
    registerBackend(demoPlugin);
    await expect(backendFromUrl("demo:bad")).rejects.toBeInstanceOf(BackendURLInvalid);
  });

  it("lets a registration override a built-in scheme, until it is unregistered", async () => {
    const own: BackendPlugin = { schemes: ["FILE"], fromUrl: (url) => new TaggedMemory(url) };
    registerBackend(own);
    expect(await backendFromUrl("file:///x")).toBeInstanceOf(TaggedMemory);
    unregisterBackend("file", own);
    await expect(backendFromUrl("file:///x")).rejects.toBeInstanceOf(BackendNotInstalled);
  });

  it("rejects a quota for a registered backend without quota support", async () => {
    registerBackend(demoPlugin);
    await expect(backendFromUrl("demo:ok", { quota: 10 })).rejects.toBeInstanceOf(InvalidArgument);
  });

  it("rejects a plugin without schemes", () => {
    expect(() => registerBackend({ schemes: [], fromUrl: () => undefined })).toThrow(InvalidArgument);
  });

  it("returns Backend instances", async () => {
    expect(await backendFromUrl("memory:")).toBeInstanceOf(Backend);
  });
});
