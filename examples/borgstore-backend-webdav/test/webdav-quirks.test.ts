import { randomBytes } from "node:crypto";
import { type Backend, Store, backendFromUrl } from "@borgstore/core";
import { expectCode, requireTestServer, textOf } from "@borgstore/testkit";
import { afterEach, describe, expect, it } from "vitest";
import { WebdavBackend, locationFromUrl } from "../src/index.js";

const enc = (text: string) => new TextEncoder().encode(text);

describe("webdav:// URLs", () => {
  it("map to http and webdavs:// to https, with decoded credentials and a trailing slash", () => {
    expect(locationFromUrl("webdav://u:p%40ss@127.0.0.1:8080/a/b")).toEqual({
      baseUrl: "http://127.0.0.1:8080/a/b/",
      username: "u",
      password: "p@ss",
    });
    expect(locationFromUrl("webdavs://dav.example.org/b/")?.baseUrl).toBe("https://dav.example.org/b/");
    // The server's root is the whole share: destroy() would delete everything in it.
    for (const root of ["webdav://u:p@h/", "webdav://u:p@h", "webdav://u:p@h/backups/..", "webdav://u:p@h/a/%2e%2e"])
      expect(() => locationFromUrl(root), root).toThrow(/needs its own collection below the server's root/);
    expect(() => new WebdavBackend({ baseUrl: "http://h/" })).toThrow(/below the server's root/);
    expect(() => new WebdavBackend({ baseUrl: "http://u:secret@h/x/" })).toThrow(/must not carry credentials/);
    expect(new WebdavBackend({ baseUrl: "http://h/noslash" }).location).toBe("http://h/noslash/");
    expect(() => locationFromUrl("webdav://u:pw%zz@h/x")).toThrow(/invalid percent-encoding/);
    expect(locationFromUrl("http://dav.example.org/")).toBeUndefined();
  });

  it("reach this package's backend through core once it is imported", async () => {
    expect(await backendFromUrl("webdav://127.0.0.1:1/x")).toBeInstanceOf(WebdavBackend);
    await expectCode(backendFromUrl("webdav://127.0.0.1:1/x", { quota: 10 }), "INVALID_ARGUMENT");
  });
});

const serverUrl = requireTestServer("BORGSTORE_TEST_WEBDAV_URL", "WebDAV backend (scripts/test-servers/webdav.sh)");

// Operations WebDAV servers carry out more destructively than borgstore allows.
describe.runIf(serverUrl)("webdav: what a WebDAV server would destroy, the backend refuses", () => {
  let backend: Backend;
  afterEach(async () => {
    if (backend.opened) await backend.close();
    await backend.destroy();
  });
  async function open(): Promise<Backend> {
    backend = await backendFromUrl(`${serverUrl}quirks-${randomBytes(6).toString("hex")}`);
    await backend.create();
    await backend.open();
    return backend;
  }

  it("a move of a missing name fails with OBJECT_NOT_FOUND and keeps the target", async () => {
    const b = await open();
    await b.store("target", enc("kept"));
    await expectCode(b.move("missing", "target"), "OBJECT_NOT_FOUND");
    expect(textOf(await b.load("target"))).toBe("kept");
  });

  it("a delete of a namespace fails and keeps what is in it", async () => {
    const b = await open();
    await b.store("ns/item", enc("kept"));
    await expect(b.delete("ns")).rejects.toBeInstanceOf(Error);
    expect(textOf(await b.load("ns/item"))).toBe("kept");
  });

  it("a move onto a namespace fails and keeps what is in it", async () => {
    const b = await open();
    await b.store("ns/item", enc("kept"));
    await b.store("other", enc("value"));
    await expect(b.move("other", "ns")).rejects.toBeInstanceOf(Error);
    expect(textOf(await b.load("ns/item"))).toBe("kept");
    expect(textOf(await b.load("other"))).toBe("value");
  });

  it("a Store opened by URL round-trips a value with wrong credentials refused", async () => {
    const url = `${serverUrl}quirks-${randomBytes(6).toString("hex")}`;
    backend = await backendFromUrl(url);
    const store = new Store({ url, config: { "": { levels: [0] } } });
    await store.create();
    await store.open();
    await store.store("key", enc("value"));
    expect(textOf(await store.load("key"))).toBe("value");
    await store.close();
    const wrong = new Store({ url: url.replace("testpass", "nope"), config: { "": { levels: [0] } } });
    await expectCode(wrong.open(), "AUTHENTICATION_FAILED");
  });
});

// rclone's server answers 500 to a PROPFIND that lands while a MOVE replaces the resource; the
// backend asks again, so info (and every store over an existing name, which looks first) holds.
describe.runIf(serverUrl)("webdav: PROPFIND racing MOVEs over the same name", () => {
  it("info and stores of one name from 8 writers and 8 readers never fail", async () => {
    const backend = await backendFromUrl(`${serverUrl}race-${randomBytes(6).toString("hex")}`);
    await backend.create();
    await backend.open();
    try {
      await backend.store("name", enc("first"));
      const until = Date.now() + 3000;
      const loop = async (work: () => Promise<unknown>) => {
        let done = 0;
        while (Date.now() < until) {
          await work();
          done++;
        }
        return done;
      };
      const counts = await Promise.all([
        ...Array.from({ length: 8 }, (_, i) => loop(() => backend.store("name", enc(`writer ${i}`)))),
        // An overwrite there is delete + rename: a reader may find the name missing for a moment.
        ...Array.from({ length: 8 }, () => loop(() => backend.info("name"))),
      ]);
      expect(Math.min(...counts)).toBeGreaterThan(0);
    } finally {
      await backend.close();
      await backend.destroy();
    }
  }, 30_000);
});
