import { createHash } from "node:crypto";
import { requireTestServer } from "@borgstore/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ACCEPT, request } from "./helpers.js";

/**
 * Through nginx (scripts/test-servers/nginx.sh): two stores on unix sockets, each served by our
 * CLI started by systemd-socket-activate, behind the contrib reverse-proxy layout.
 */
const repo1 = requireTestServer("BORGSTORE_TEST_REST1_URL", "server behind nginx (repo1)");
const repo2 = requireTestServer("BORGSTORE_TEST_REST2_URL", "server behind nginx (repo2)");

interface Target {
  base: string;
  auth: string;
}

function target(url: string): Target {
  const u = new URL(url);
  const auth = `Basic ${Buffer.from(`${decodeURIComponent(u.username)}:${decodeURIComponent(u.password)}`).toString("base64")}`;
  u.username = "";
  u.password = "";
  return { base: u.href.replace(/\/+$/, ""), auth };
}

async function call(t: Target, method: string, path: string, body?: string, auth = true): Promise<Response> {
  const headers: Record<string, string> = { Accept: ACCEPT };
  if (auth) headers.Authorization = t.auth;
  return fetch(`${t.base}${path}`, { method, headers, body: body ?? (method === "POST" || method === "DELETE" ? "" : undefined) });
}

describe.skipIf(!repo1 || !repo2)("our server behind nginx with socket activation", () => {
  const t1 = target(repo1 ?? "http://x/");
  const t2 = target(repo2 ?? "http://x/");
  const created: Target[] = [];
  const key = `nginx-test-${process.pid}-${Date.now()}`;

  beforeAll(async () => {
    for (const t of [t1, t2]) {
      const res = await call(t, "POST", "/?cmd=create");
      expect([200, 409]).toContain(res.status);
      if (res.status === 200) created.push(t);
    }
  });
  afterAll(async () => {
    for (const t of [t1, t2]) await call(t, "DELETE", `/${key}`);
    for (const t of created) await call(t, "DELETE", "/?cmd=destroy");
  });

  it("keeps the two repositories apart (same key, different values)", async () => {
    expect((await call(t1, "POST", `/${key}`, "one")).status).toBe(200);
    expect((await call(t2, "POST", `/${key}`, "two")).status).toBe(200);
    expect(await (await call(t1, "GET", `/${key}`)).text()).toBe("one");
    expect(await (await call(t2, "GET", `/${key}`)).text()).toBe("two");
    expect((await call(t2, "DELETE", `/${key}`)).status).toBe(200);
    expect((await call(t2, "GET", `/${key}`)).status).toBe(404);
    expect((await call(t1, "GET", `/${key}`)).status).toBe(200);
  });

  it("passes headers, ranges, root listing and auth through the proxy", async () => {
    expect((await call(t1, "POST", `/${key}`, "hello borgstore")).status).toBe(200);
    const info = await call(t1, "HEAD", `/${key}`);
    expect(info.headers.get("content-length")).toBe("15");
    expect(info.headers.get("x-borgstore-is-directory")).toBe("false");
    const ranged = await fetch(`${t1.base}/${key}`, { headers: { Accept: ACCEPT, Authorization: t1.auth, Range: "bytes=6-" } });
    expect(ranged.status).toBe(206);
    expect(await ranged.text()).toBe("borgstore");
    const list = await call(t1, "GET", "//");
    expect(list.headers.get("content-type")).toBe("application/json");
    expect(((await list.json()) as { name: string }[]).map((e) => e.name)).toContain(key);
    const denied = await call(t1, "GET", `/${key}`, undefined, false);
    expect(denied.status).toBe(401);
    expect(denied.headers.get("www-authenticate")).toBe('Basic realm="BorgStore REST Server"');
  });

  it("hands the raw request target to the server: encoded names are refused by the server, not decoded by nginx", async () => {
    const port = Number(new URL(t1.base).port);
    for (const name of ["%2e%2e/x", "%2E%2E%2fetc%2fpasswd", "a%2fb"]) {
      const res = await request(port, "POST", `/repos/repo1/${name}`, { body: "v" });
      expect(res.status, name).toBe(400);
      expect(res.body.toString(), name).toContain("must not contain percent-encoded");
    }
    // %41 is the literal name "…%41", never "…A"; fetch leaves %41 alone too.
    expect((await request(port, "POST", `/repos/repo1/${key}-%41`, { body: "literal" })).status).toBe(200);
    expect(await (await call(t1, "GET", `/${key}-%41`)).text()).toBe("literal");
    expect((await call(t1, "GET", `/${key}-a`)).status).toBe(404);
    expect((await call(t1, "DELETE", `/${key}-%41`)).status).toBe(200);
  });

  it("passes the query string exactly once (a repeated one would turn the hash command into a store)", async () => {
    expect((await call(t1, "POST", `/${key}`, "hash me")).status).toBe(200);
    const res = await call(t1, "POST", `/${key}?algorithm=sha256&cmd=hash`);
    expect(res.status).toBe(200);
    expect(await res.text()).toBe(createHash("sha256").update("hash me").digest("hex"));
    expect(await (await call(t1, "GET", `/${key}`)).text()).toBe("hash me");
  });

  it("answers 400 itself when the raw target names no repository", async () => {
    const port = Number(new URL(t1.base).port);
    // nginx would normalise these into /repos/repo1/…; the raw target does not start with one.
    expect((await request(port, "GET", "/static/%2e%2e/repos/repo1/")).status).toBe(400);
    expect((await request(port, "GET", "/repos/rep%6f1/")).status).toBe(400);
  });

  it("streams a 20 MB value both ways through the proxy", async () => {
    const value = Buffer.alloc(20_000_000, 7);
    const stored = await fetch(`${t1.base}/${key}`, { method: "POST", headers: { Accept: ACCEPT, Authorization: t1.auth }, body: value });
    expect(stored.status).toBe(200);
    const loaded = Buffer.from(await (await call(t1, "GET", `/${key}`)).arrayBuffer());
    expect(loaded.equals(value)).toBe(true);
  });
});
