import { cpSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { type Backend, type CacheMode, type HashAlgorithm, MemoryBackend, Store } from "../src/index.js";

const packageDir = resolve(import.meta.dirname, "..");

/** Two installs of the built package side by side, as two separately installed copies would be. */
function twoCopies(): { a: string; b: string; root: string } {
  const root = mkdtempSync(join(tmpdir(), "borgstore-two-cores-"));
  // Core's own dependencies, once, above both copies (as a package manager would hoist them).
  mkdirSync(join(root, "node_modules"));
  const { dependencies = {} } = JSON.parse(readFileSync(join(packageDir, "package.json"), "utf8")) as { dependencies?: Record<string, string> };
  for (const dep of Object.keys(dependencies)) symlinkSync(realpathSync(join(packageDir, "node_modules", dep)), join(root, "node_modules", dep));
  const copies = ["a", "b"].map((copy) => {
    const dir = join(root, copy, "node_modules", "@borgstore", "core");
    mkdirSync(dir, { recursive: true });
    cpSync(join(packageDir, "dist"), join(dir, "dist"), { recursive: true });
    cpSync(join(packageDir, "package.json"), join(dir, "package.json"));
    return pathToFileURL(join(dir, "dist", "index.js")).href;
  });
  return { a: copies[0] as string, b: copies[1] as string, root };
}

describe("two copies of @borgstore/core in one process", () => {
  const copies = twoCopies();
  afterAll(() => rmSync(copies.root, { recursive: true, force: true }));

  it("recognise each other's errors by class and by code", async () => {
    const a = await import(copies.a);
    const b = await import(copies.b);
    expect(a.ObjectNotFound).not.toBe(b.ObjectNotFound);
    const err = new a.ObjectNotFound("data/x");
    expect(err).toBeInstanceOf(b.ObjectNotFound);
    expect(err).toBeInstanceOf(b.BackendError);
    expect(err).toBeInstanceOf(b.BorgStoreError);
    expect(err).toBeInstanceOf(Error);
    expect(err).not.toBeInstanceOf(b.PermissionDenied);
    expect(err).not.toBeInstanceOf(b.InvalidArgument);
    expect(b.isBorgStoreError(err, "OBJECT_NOT_FOUND")).toBe(true);
    expect(b.isBorgStoreError(err, "PERMISSION_DENIED")).toBe(false);
    const notInstalled = new a.BackendNotInstalled("@x/y", "x");
    expect(notInstalled).toBeInstanceOf(b.BackendDoesNotExist);
    expect(b.isBorgStoreError(notInstalled, "BACKEND_NOT_INSTALLED")).toBe(true);
    // A look-alike that no copy of core made is not taken for one.
    expect(Object.assign(new Error("x"), { code: "OBJECT_NOT_FOUND", name: "ObjectNotFound" })).not.toBeInstanceOf(b.ObjectNotFound);
    expect(b.isBorgStoreError({ code: "OBJECT_NOT_FOUND" })).toBe(false);
  });

  it("share one backend registry, so a plugin registered through one copy opens from the other", async () => {
    const a = await import(copies.a);
    const b = await import(copies.b);
    const plugin = { schemes: ["twocopies"], fromUrl: () => new a.MemoryBackend() };
    a.registerBackend(plugin);
    try {
      const backend = await b.backendFromUrl("twocopies://anything");
      expect(backend).toBeInstanceOf(a.MemoryBackend);
    } finally {
      a.unregisterBackend("twocopies", plugin);
    }
    await expect(b.backendFromUrl("twocopies://anything")).rejects.toMatchObject({ code: "BACKEND_URL_INVALID" });
  });
});

describe("explicit resource management", () => {
  it("`await using` closes an open Store and Backend at the end of the scope", async () => {
    const backend = new MemoryBackend();
    {
      await using store = new Store({ backend, config: { "": { levels: [0] } } });
      await store.create();
      await store.open();
      expect(backend.opened).toBe(true);
    }
    expect(backend.opened).toBe(false);
    let inner: Backend;
    {
      await using b = new MemoryBackend();
      inner = b;
      await b.create();
      await b.open();
    }
    expect(inner.opened).toBe(false);
  });

  it("disposing a store that was never opened (or already closed) does nothing", async () => {
    const store = new Store({ backend: new MemoryBackend(), config: { "": { levels: [0] } } });
    await store[Symbol.asyncDispose]();
    const backend = new MemoryBackend();
    await backend.create();
    await backend.open();
    await backend.close();
    await backend[Symbol.asyncDispose]();
    expect(backend.opened).toBe(false);
  });
});

describe("literal types", () => {
  it("hash algorithms and cache modes are checked by the compiler", () => {
    // Never called: the lines marked @ts-expect-error fail `pnpm typecheck` if they compile.
    const compileOnly = (store: Store) => {
      // @ts-expect-error "sha257" is not a hash algorithm
      void store.hash("x", { algorithm: "sha257" });
      // @ts-expect-error "mirorr" is not a cache mode
      void new Store({ backend: new MemoryBackend(), config: { "": { levels: [0], cache: "mirorr" } } });
      const ok: HashAlgorithm[] = ["sha256", "xxh64", "blake3", "sha3_256"];
      const modes: CacheMode[] = ["off", "mirror", "writethrough"];
      return [ok, modes];
    };
    expect(typeof compileOnly).toBe("function");
  });
});

describe("a Store in logs", () => {
  it("never shows its URL's credentials, logged or serialised", async () => {
    const { inspect } = await import("node:util");
    const store = new Store({ url: "memory:", config: { "": { levels: [0] } } });
    expect(inspect(store)).toBe('Store { url: "memory:" }');
    const secret = new Store({ url: "s3:AKIA:SECRETKEY@https://s3.example.org/b/x", config: { "": { levels: [0] } } });
    expect(inspect(secret)).not.toContain("SECRETKEY");
    expect(JSON.stringify(secret)).toBe('{"url":"s3:***@https://s3.example.org/b/x"}');
  });
});
