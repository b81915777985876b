import { afterEach, describe, expect, it } from "vitest";
import {
  type BackendPlugin,
  BackendURLInvalid,
  InvalidArgument,
  MemoryBackend,
  backendFromUrl,
  redactUrl,
  registerBackend,
  unregisterBackend,
  urlScheme,
} from "../src/index.js";

const plugin = (schemes: string[]): BackendPlugin => ({ schemes, fromUrl: () => new MemoryBackend() });
const registered: string[] = [];
afterEach(() => {
  for (const scheme of registered.splice(0)) unregisterBackend(scheme);
});

describe("URL schemes of registered plugins", () => {
  it("are matched case-insensitively, with or without the trailing colon", async () => {
    registerBackend(plugin(["Edge-A:"]));
    registered.push("edge-a");
    expect(await backendFromUrl("edge-a://x")).toBeInstanceOf(MemoryBackend);
    expect(await backendFromUrl("EDGE-A://x")).toBeInstanceOf(MemoryBackend);
  });

  it.each(["9edge", "edge b", "edge/b", "edge:b", ""])("refuses the malformed scheme %j, naming it", (scheme) => {
    expect(() => registerBackend(plugin([scheme]))).toThrow(new InvalidArgument(`invalid URL scheme: ${scheme}`));
  });

  it("refuses a plugin without schemes with a message that says so", () => {
    expect(() => registerBackend(plugin([]))).toThrow(new InvalidArgument("a backend plugin must name at least one URL scheme"));
  });

  it("unregisterBackend with a plugin removes only that plugin's registration; without one, any", async () => {
    const mine = plugin(["edge-c"]);
    registerBackend(mine);
    registered.push("edge-c");
    unregisterBackend("edge-c", plugin(["edge-c"]));
    expect(await backendFromUrl("edge-c:x")).toBeInstanceOf(MemoryBackend);
    unregisterBackend("EDGE-C:", mine);
    await expect(backendFromUrl("edge-c:x")).rejects.toThrow(BackendURLInvalid);
    registerBackend(mine);
    unregisterBackend("edge-c");
    await expect(backendFromUrl("edge-c:x")).rejects.toThrow(BackendURLInvalid);
  });
});

describe("URL parsing and messages", () => {
  it("reads a scheme only at the start of the URL", () => {
    expect(urlScheme("MeMory:")).toBe("memory");
    expect(urlScheme("9memory:")).toBeUndefined();
    expect(urlScheme("/data/file:x")).toBeUndefined();
  });

  it("redacts credentials after the scheme only, not a colon and @ later in the path", () => {
    expect(redactUrl("sftp://user:secret@host/p")).toBe("sftp://***@host/p");
    expect(redactUrl("file:///data/x:y@z")).toBe("file:///data/x:y@z");
    // A password with an unencoded "/", or one slash after the scheme, is still hidden.
    expect(redactUrl("webdav://u:SEC/RET@host/x")).toBe("webdav://***@host/x");
    expect(redactUrl("webdav:/u:SECRET@host/x")).toBe("webdav:/***@host/x");
    expect(redactUrl("s3:AKIA:SECRET@https://h/b")).toBe("s3:***@https://h/b");
  });

  it("refuses a URL that is no string, or whose scheme is not at its start, with the URL in the message", async () => {
    await expect(backendFromUrl(42 as unknown as string)).rejects.toThrow(new BackendURLInvalid("Invalid Backend Storage URL: 42"));
    await expect(backendFromUrl("9memory:")).rejects.toThrow(new BackendURLInvalid("Invalid or unsupported Backend Storage URL: 9memory:"));
  });

  it("names the redacted URL when the plugin refuses it or cannot hold a quota", async () => {
    registerBackend({ schemes: ["edge-d"], fromUrl: (url) => (url.includes("ok") ? new MemoryBackend() : undefined) });
    registered.push("edge-d");
    await expect(backendFromUrl("edge-d://u:pw@bad")).rejects.toThrow(
      new BackendURLInvalid("Invalid or unsupported Backend Storage URL: edge-d://***@bad"),
    );
    await expect(backendFromUrl("edge-d://u:pw@ok", { quota: 1 })).rejects.toThrow(
      new InvalidArgument("A quota is not supported by the backend of edge-d://***@ok"),
    );
  });
});
