import { describe, expect, it } from "vitest";
import { ErrorCodes, MemoryBackend } from "../src/index.js";
import { memoryBackendFromUrl } from "../src/backends/memory.js";
import { bytes, collect, failure, names, opened, text } from "./helpers.js";

describe("MemoryBackend names its store in lifecycle errors", () => {
  it("create, destroy and open say which store", async () => {
    MemoryBackend.forget("edges-life");
    const a = new MemoryBackend({ name: "edges-life" });
    expect(await failure(a.open())).toEqual({ code: ErrorCodes.BACKEND_DOES_NOT_EXIST, message: "memory://edges-life does not exist" });
    expect(await failure(a.destroy())).toEqual({ code: ErrorCodes.BACKEND_DOES_NOT_EXIST, message: "memory://edges-life does not exist" });
    await opened(a);
    await a.store("x", bytes("1"));
    await a.close();
    expect(await failure(a.create())).toEqual({ code: ErrorCodes.BACKEND_ALREADY_EXISTS, message: "memory://edges-life already exists" });
    MemoryBackend.forget("edges-life");
  });

  it("forget drops a named store: the next backend of that name starts from nothing", async () => {
    MemoryBackend.forget("edges-forget");
    const a = await opened(new MemoryBackend({ name: "edges-forget" }));
    await a.store("x", bytes("1"));
    await a.close();
    MemoryBackend.forget("edges-forget");
    expect((await failure(new MemoryBackend({ name: "edges-forget" }).open())).code).toBe(ErrorCodes.BACKEND_DOES_NOT_EXIST);
  });

  it("an operation on a store another instance destroyed meanwhile fails with BackendDoesNotExist", async () => {
    MemoryBackend.forget("edges-gone");
    const a = await opened(new MemoryBackend({ name: "edges-gone" }));
    await a.store("x", bytes("1"));
    await new MemoryBackend({ name: "edges-gone" }).destroy();
    expect(await failure(a.load("x"))).toEqual({ code: ErrorCodes.BACKEND_DOES_NOT_EXIST, message: "memory://edges-gone does not exist" });
    MemoryBackend.forget("edges-gone");
  });
});

describe("MemoryBackend keeps files and directories apart, as a filesystem does", () => {
  it("refuses to store over a directory, through a file, and to load or delete a directory", async () => {
    const be = await opened();
    await be.mkdir("dir/sub");
    await be.store("file", bytes("f"));
    expect(await failure(be.store("dir", bytes("x")))).toEqual({ code: ErrorCodes.BACKEND_ERROR, message: "Is a directory: dir" });
    expect(await failure(be.store("file/x", bytes("x")))).toEqual({ code: ErrorCodes.BACKEND_ERROR, message: "Not a directory: file in file/x" });
    expect(await failure(be.load("dir"))).toEqual({ code: ErrorCodes.BACKEND_ERROR, message: "Is a directory: dir" });
    expect(await failure(be.delete("dir"))).toEqual({ code: ErrorCodes.BACKEND_ERROR, message: "Is a directory: dir" });
    expect(await failure(be.rmdir("file"))).toEqual({ code: ErrorCodes.BACKEND_ERROR, message: "Not a directory: file" });
    expect(await failure(be.rmdir("dir"))).toEqual({ code: ErrorCodes.BACKEND_ERROR, message: "Directory not empty: dir" });
    expect(await failure(collect(be.list("file")))).toEqual({ code: ErrorCodes.BACKEND_ERROR, message: "Not a directory: file" });
    expect(await names(be.list(""))).toEqual(["dir", "file"]);
    expect(await names(be.list("dir"))).toEqual(["sub"]);
    expect(text(await be.load("file"))).toBe("f");
  });

  it("says a name below a file does not exist", async () => {
    const be = await opened();
    await be.store("file", bytes("f"));
    expect((await be.info("file/x")).exists).toBe(false);
    expect((await failure(be.load("file/x"))).code).toBe(ErrorCodes.OBJECT_NOT_FOUND);
  });

  it("moves: a file not onto a directory, a directory onto an empty one but not a full one, anything onto itself", async () => {
    const be = await opened();
    await be.store("file", bytes("f"));
    await be.mkdir("empty");
    await be.mkdir("full/sub");
    await be.mkdir("moving/inner");
    expect(await failure(be.move("file", "empty"))).toEqual({ code: ErrorCodes.BACKEND_ERROR, message: "cannot move file onto empty" });
    expect(await failure(be.move("moving", "full"))).toEqual({ code: ErrorCodes.BACKEND_ERROR, message: "Directory not empty: full" });
    await be.move("full", "full");
    await be.move("file", "file");
    await be.move("moving", "empty");
    expect(await names(be.list(""))).toEqual(["empty", "file", "full"]);
    expect(await names(be.list("empty"))).toEqual(["inner"]);
    expect(await names(be.list("full"))).toEqual(["sub"]);
    expect(text(await be.load("file"))).toBe("f");
  });

  it("skips entries deleted while a listing is under way", async () => {
    const be = await opened();
    for (const name of ["a", "b", "c"]) await be.store(name, bytes(name));
    const seen: string[] = [];
    for await (const info of be.list("")) {
      seen.push(info.name);
      if (info.name === "a") {
        await be.delete("b");
        await be.delete("c");
      }
    }
    expect(seen).toEqual(["a"]);
  });
});

describe("memory URLs", () => {
  it("memory: and memory:// are private stores each; memory://NAME is shared, decoded", async () => {
    for (const url of ["memory:", "memory://"]) {
      const a = memoryBackendFromUrl(url) as MemoryBackend;
      const b = memoryBackendFromUrl(url) as MemoryBackend;
      expect(a.name).toBeUndefined();
      expect(a.location).toBe("memory:");
      await opened(a);
      await a.store("x", bytes("1"));
      await b.create(); // not "already exists": another store
    }
    expect(memoryBackendFromUrl("MEMORY://a%20b")?.location).toBe("memory://a b");
  });

  it("ignores other URLs, and refuses a quota and a name with a slash", () => {
    for (const url of ["xmemory:", "memory:x", "file:///memory:", "memory://a/b"]) expect(memoryBackendFromUrl(url)).toBeUndefined();
    expect(() => memoryBackendFromUrl("memory:", { quota: 10 })).toThrow("The memory backend does not support a quota.");
    expect(() => memoryBackendFromUrl("memory://a%2Fb")).toThrow(expect.objectContaining({ code: ErrorCodes.BACKEND_URL_INVALID, message: "Invalid memory URL: memory://a%2Fb" }));
  });
});
