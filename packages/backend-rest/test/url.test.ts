import { BackendURLInvalid, InvalidArgument } from "@borgstore/core";
import { describe, expect, it } from "vitest";
import { RestBackend, parseRestUrl, plugin, sshCommand } from "../src/index.js";
import type { HttpTarget, StdioTarget } from "../src/url.js";

const noEnv = {};

function http(url: string, env: NodeJS.ProcessEnv = noEnv): HttpTarget {
  const t = parseRestUrl(url, env);
  if (t?.kind !== "http") throw new Error(`not an http target: ${url}`);
  return t;
}

function stdio(url: string, env: NodeJS.ProcessEnv = noEnv): StdioTarget {
  const t = parseRestUrl(url, env);
  if (t?.kind !== "stdio") throw new Error(`not a stdio target: ${url}`);
  return t;
}

describe("http(s) URLs (docs/backend-urls.md#http-https-rest-rest-server)", () => {
  const examples: [string, string, { username: string; password: string } | undefined][] = [
    ["http://username:password@hostname:2222/", "http://hostname:2222", { username: "username", password: "password" }],
    ["https://username:password@hostname/", "https://hostname", { username: "username", password: "password" }],
    ["http://hostname/", "http://hostname", undefined],
    ["http://user%20name:pass%20word@hostname/", "http://hostname", { username: "user name", password: "pass word" }],
    ["http://u:p%40x@host/", "http://host", { username: "u", password: "p@x" }],
    ["https://u:p:q@host/", "https://host", { username: "u", password: "p:q" }],
    // Unencoded "@", "/", "?" and "#" in a password (the reference takes them too): it ends at the first "@" a host follows.
    ["http://u:pa@SECRET@127.0.0.1:1/", "http://127.0.0.1:1", { username: "u", password: "pa@SECRET" }],
    ["http://u:1234/ss@host/x", "http://host/x", { username: "u", password: "1234/ss" }],
    ["http://u:p?q#r@host/", "http://host", { username: "u", password: "p?q#r" }],
    ["http://host:80/a/b/", "http://host:80/a/b", undefined],
    ["http://host/a/b?x=1#f", "http://host/a/b", undefined],
  ];
  for (const [url, base, auth] of examples) {
    it(`${url} → base ${base}, ${auth ? `auth ${auth.username}/${auth.password}` : "no auth"}`, () => {
      const t = http(url);
      expect(t.origin + t.basePath).toBe(base);
      expect(t.auth).toEqual(auth);
    });
  }

  it("keeps a user without password out of the host (the reference kept it: http://u@host/x)", () => {
    const t = http("http://u@host/x");
    expect(t.origin + t.basePath).toBe("http://host/x");
    expect(t.auth).toBeUndefined();
    expect(http("http://u@host/x", { BORGSTORE_REST_PASSWORD: "pw" }).auth).toEqual({ username: "u", password: "pw" });
  });

  it("treats an empty password as no credentials and keeps the host (the reference made the host 'u': http://u:@host/)", () => {
    const t = http("http://u:@host/");
    expect(t.origin).toBe("http://host");
    expect(t.auth).toBeUndefined();
  });

  it("understands IPv6 hosts in brackets (the reference parsed the host as '[')", () => {
    const t = http("http://[::1]:5618/repo/");
    expect(t.origin).toBe("http://[::1]:5618");
    expect(t.basePath).toBe("/repo");
  });

  it("takes credentials from BORGSTORE_REST_USERNAME/PASSWORD when the URL has none; URL credentials win", () => {
    const env = { BORGSTORE_REST_USERNAME: "envuser", BORGSTORE_REST_PASSWORD: "envpass" };
    expect(http("http://hostname/", env).auth).toEqual({ username: "envuser", password: "envpass" });
    expect(http("http://a:b@hostname/", env).auth).toEqual({ username: "a", password: "b" });
    expect(http("http://hostname/", { BORGSTORE_REST_USERNAME: "only" }).auth).toBeUndefined();
  });

  it("takes no credentials from a password alone in the environment", () => {
    expect(http("http://hostname/", { BORGSTORE_REST_PASSWORD: "only" }).auth).toBeUndefined();
  });

  it("has an empty base path without a path, and drops every trailing slash of one", () => {
    expect(http("http://hostname").basePath).toBe("");
    expect(http("http://hostname:8080").origin).toBe("http://hostname:8080");
    expect(http("http://hostname/store//").basePath).toBe("/store");
  });

  it("says what is wrong: the bad percent-encoding's part, the bad host or port", () => {
    expect(() => http("http://u%zz:p@h/")).toThrow("invalid percent-encoding in the URL's user name");
    expect(() => http("http://u:p%zz@h/")).toThrow("invalid percent-encoding in the URL's password");
    expect(() => http("http://h:99999/")).toThrow("invalid host or port in URL: http://h:99999");
  });

  it("refuses a host or port that does not parse, naming only what follows the last '@' (the reference ignored the rest of the URL)", () => {
    expect(() => http("http://h:abc/")).toThrow("invalid host or port in URL: http://h:abc");
    expect(() => http("http://alice:913377@[not-an-address]/repo")).toThrow("invalid host or port in URL: http://[not-an-address]");
    expect(() => http("http://:SeCrEt@host/")).toThrow("invalid host or port in URL: http://host");
  });

  it("percent-encodes what a request line cannot carry in the base path (blanks, non-ASCII) as UTF-8, as requests does", () => {
    expect(http("http://h/my repo/").basePath).toBe("/my%20repo");
    expect(http("http://h/k\u00e4se%20x/").basePath).toBe("/k%C3%A4se%20x");
    expect(http("http://h/a@b/c").basePath).toBe("/a@b/c");
  });

  it("reads ?concurrency=N from the query, which the reference ignores", () => {
    expect(new RestBackend({ url: "http://h/?concurrency=1", env: {} }).concurrency).toBe(1);
    expect(new RestBackend({ url: "http://h/", env: { BORGSTORE_REST_CONCURRENCY: "4" } }).concurrency).toBe(4);
    expect(new RestBackend({ url: "http://h/", env: {} }).concurrency).toBe(16);
    expect(new RestBackend({ url: "http://h/?concurrency=2", env: {}, concurrency: 3 }).concurrency).toBe(3);
    expect(() => new RestBackend({ url: "http://h/?concurrency=0", env: {} })).toThrow(InvalidArgument);
  });

  it("never shows credentials in location", () => {
    expect(new RestBackend({ url: "http://u:secret@h:1/x/", env: {} }).location).toBe("http://h:1/x");
  });
});

describe("rest:// URLs (docs/rest-protocol.md#transports)", () => {
  const server = ["borgstore-server-rest", "--stdio", "--backend"];
  const ssh = ["ssh", "-o", "ServerAliveInterval=30", "-o", "ServerAliveCountMax=3"];

  it("rest:///teststore runs a local child on the relative path", () => {
    expect(stdio("rest:///teststore").command).toEqual([...server, "FILE:teststore"]);
  });

  it("rest:////tmp/teststore runs a local child on the absolute path", () => {
    expect(stdio("rest:////tmp/teststore").command).toEqual([...server, "FILE:/tmp/teststore"]);
  });

  it("rest://user@host:2222/teststore runs the server through ssh with keep-alives and the port", () => {
    expect(stdio("rest://user@host:2222/teststore").command).toEqual([
      ...ssh,
      "-p",
      "2222",
      "user@host",
      ...server,
      "FILE:teststore",
    ]);
  });

  it("rest://user@host:2222//tmp/teststore uses an absolute remote path", () => {
    expect(stdio("rest://user@host:2222//tmp/teststore").command.at(-1)).toBe("FILE:/tmp/teststore");
  });

  it("always passes -p, 22 by default", () => {
    expect(stdio("rest://host/x").command).toEqual([...ssh, "-p", "22", "host", ...server, "FILE:x"]);
  });

  it("gives ssh a bare IPv6 address (the reference passed the brackets through)", () => {
    expect(stdio("rest://[::1]/x").command).toContain("::1");
    expect(stdio("rest://me@[::1]:2022/x").command).toEqual([...ssh, "-p", "2022", "me@::1", ...server, "FILE:x"]);
  });

  it("keeps ~ paths for the server to expand and quotes blanks for the remote shell", () => {
    expect(stdio("rest://h/~/repo").command.at(-1)).toBe("FILE:~/repo");
    expect(stdio("rest://h/my repo").command.at(-1)).toBe("'FILE:my repo'");
    expect(stdio("rest:///my repo").command.at(-1)).toBe("FILE:my repo");
  });

  it("uses BORGSTORE_RSH verbatim, shell-split, without -o/-p (so the port is ignored, as in the reference)", () => {
    const env = { BORGSTORE_RSH: "ssh -i '/keys/my key' -F /dev/null" };
    expect(stdio("rest://user@host:2222/repo", env).command).toEqual([
      "ssh",
      "-i",
      "/keys/my key",
      "-F",
      "/dev/null",
      "user@host",
      ...server,
      "FILE:repo",
    ]);
    expect(sshCommand("22", { BORGSTORE_RSH: "myssh $HOME" })).toEqual(["myssh", "$HOME"]);
    expect(() => sshCommand("22", { BORGSTORE_RSH: "ssh | tee" })).toThrow(BackendURLInvalid);
    expect(() => sshCommand("22", { BORGSTORE_RSH: "sshpass -p SeCrEt ssh | tee" })).toThrow(
      "BORGSTORE_RSH must be a plain command with arguments, without shell syntax (it holds the operator |)",
    );
    expect(() => sshCommand("22", { BORGSTORE_RSH: "sshpass -p SeCrEt ssh # x" })).toThrow("(it holds a comment)");
  });

  it("names a rest:// store by host and path in location, without the user", () => {
    expect(new RestBackend({ url: "rest://me@host:2222/repo", env: {} }).location).toBe("rest://host/repo");
    expect(new RestBackend({ url: "rest:////tmp/repo", env: {} }).location).toBe("rest:////tmp/repo");
  });

  for (const url of ["rest://user@host", "rest:///", "rest:/x", "ftp://host/x", "http:/x"]) {
    it(`does not recognise ${url}`, () => {
      expect(parseRestUrl(url, noEnv)).toBeUndefined();
      expect(plugin.fromUrl(url)).toBeUndefined();
      expect(() => new RestBackend({ url })).toThrow(BackendURLInvalid);
    });
  }

  for (const url of ["http://u:SeCrEt%@h/", "http://u%zz:SeCrEt@h/", "http://u:SeCrEt@h:99999/", "http://u:SeCrEt@h:65536/"]) {
    it(`rejects ${url} with BackendURLInvalid that does not show the password`, () => {
      let error: unknown;
      try {
        parseRestUrl(url, noEnv);
      } catch (err) {
        error = err;
      }
      expect(error).toBeInstanceOf(BackendURLInvalid);
      expect(String((error as Error).message)).not.toContain("SeCrEt");
    });
  }
});

describe("plugin", () => {
  it("claims http, https and rest", () => {
    expect([...plugin.schemes].sort()).toEqual(["http", "https", "rest"]);
    expect(plugin.fromUrl("http://h/")).toBeInstanceOf(RestBackend);
    expect(plugin.fromUrl("rest:///x")).toBeInstanceOf(RestBackend);
  });

  it("refuses a client-side quota (the server enforces quotas)", () => {
    expect(() => plugin.fromUrl("http://h/", { quota: 10 })).toThrow(InvalidArgument);
    expect(() => plugin.fromUrl("http://h/", { quota: 10 })).toThrow("configure it on the server (--quota)");
  });
});
