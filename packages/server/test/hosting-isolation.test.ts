import { mkdirSync, readFileSync, readdirSync, statSync } from "node:fs";
import { get } from "node:http";
import { join } from "node:path";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { HostingServer } from "../src/hosting/hosting-server.js";
import { tempDir } from "./helpers.js";
import { listenHosting, rawRequest, writeHostingConfig, writeHtpasswd } from "./hosting-helpers.js";

const dir = tempDir("borgstore-hosting-isolation-");
let hosting: HostingServer;
let port: number;

/** Every file under `root` with its content: what must not change. */
function snapshot(root: string): Record<string, string> {
  const files: Record<string, string> = {};
  const walk = (at: string) => {
    for (const name of readdirSync(at)) {
      const path = join(at, name);
      if (statSync(path).isDirectory()) walk(path);
      else if (!name.endsWith(".hid")) files[path.slice(root.length)] = readFileSync(path, "latin1");
    }
  };
  walk(root);
  return files;
}

beforeAll(async () => {
  mkdirSync(join(dir.path, "repos"));
  writeHtpasswd(join(dir.path, "htpasswd"), { alice: "apw", bob: "bpw" });
  const config = writeHostingConfig(dir.path, `file://${dir.path}/repos/{user}/{repo}`);
  ({ hosting, port } = await listenHosting(config));
  const create = async (login: string, repo: string) =>
    expect((await rawRequest(port, "POST", `/${repo}/?cmd=create`, { login })).status).toBe(200);
  await create("bob:bpw", "bob/secret");
  await create("alice:apw", "alice/laptop");
  const sentinel = Buffer.from("SENTINEL-VALUE");
  expect((await rawRequest(port, "POST", "/bob/secret/data/sentinel", { login: "bob:bpw", body: sentinel })).status).toBe(200);
});

afterAll(async () => {
  await hosting?.shutdown(1000);
  dir.remove();
});

/** Pieces of paths that try to climb, re-encode or re-case their way into bob's repository. */
const PIECES = [
  "alice", "laptop", "bob", "secret", "data", "sentinel", "Bob", "BOB", "bоb" /* Cyrillic о */, "ｂｏｂ", "bob%00",
  "bo%62", "%62ob", "..", ".", "%2e%2e", "%2E%2e", "%2e", "%2f", "%2F", "%252e%252e", "%5c", "\\", "", ";", "bob;x",
  "%2fbob", "..%2f", ".%2e", "data/..", "laptop/../../bob", "?", "#", "%3f",
];

const freeform = fc
  .array(fc.constantFrom(...PIECES), { minLength: 1, maxLength: 8 })
  .chain((pieces) => fc.tuple(fc.constant(pieces), fc.array(fc.constantFrom("/", "//", ""), { minLength: pieces.length, maxLength: pieces.length })))
  .map(([pieces, joins]) => `/${pieces.map((piece, i) => `${piece}${joins[i]}`).join("")}`);

/** Shaped like bob's sentinel's path, each part disguised. */
const USERS = ["bob", "Bob", "BOB", "bоb", "ｂｏｂ", "bo%62", "%62ob", "bob%00", "alice/..", "alice/../bob", "alice%2f..%2fbob", "alice/laptop/../../bob", "..", "%2e%2e", ".", ""];
const REPOS = ["secret", "Secret", "secret%00", "laptop/../secret", "%73ecret", "secret;x", "laptop/..%2fsecret"];
const RESTS = ["data/sentinel", "data%2fsentinel", "data/./sentinel", "data//sentinel", "DATA/sentinel", "data/sentinel%00", "data/x/../sentinel", "", "data/", "../../bob/secret/data/sentinel"];
const shaped = fc
  .tuple(fc.constantFrom(...USERS), fc.constantFrom("/", "//", "%2f", "/./"), fc.constantFrom(...REPOS), fc.constantFrom("/", "//", "%2f"), fc.constantFrom(...RESTS))
  .map((parts) => `/${parts.join("")}`);

const hostilePath = fc.oneof(shaped, freeform);

describe("hosting mode isolation", () => {
  it("no path encoding, case or unicode reaches another user's repository (fast-check over hostile paths)", async () => {
    const before = snapshot(join(dir.path, "repos", "bob"));
    await fc.assert(
      fc.asyncProperty(hostilePath, fc.constantFrom("GET", "HEAD", "POST", "DELETE"), async (path, method) => {
        const body = method === "POST" ? Buffer.from("EVIL") : undefined;
        const answer = await rawRequest(port, method, path, { login: "alice:apw", body });
        // alice's own repository has no "sentinel": a success that mentions it came from bob's.
        expect(answer.status < 300 && /sentinel/i.test(answer.body), `${method} ${path} → ${answer.status} ${answer.body}`).toBe(false);
        expect(answer.status, `${method} ${path}`).not.toBe(500);
      }),
      { numRuns: 400 },
    );
    expect(snapshot(join(dir.path, "repos", "bob"))).toEqual(before);
    // The sentinel is still bob's, and bob still reaches it.
    expect((await rawRequest(port, "GET", "/bob/secret/data/sentinel", { login: "bob:bpw" })).body).toBe("SENTINEL-VALUE");
  }, 60_000);

  it("answers GET /healthz with 200 without credentials or Accept header", async () => {
    const answer = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      get({ host: "127.0.0.1", port, path: "/healthz" }, (res) => {
        let body = "";
        res.setEncoding("utf8").on("data", (text: string) => {
          body += text;
        });
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
      }).on("error", reject);
    });
    expect(answer).toEqual({ status: 200, body: "ok\n" });
    expect((await rawRequest(port, "GET", "/healthz/x")).status).toBe(401);
  });

  it("answers a login without a user of its name (or unlisted) 401 and an unlisted path 404", async () => {
    expect((await rawRequest(port, "GET", "/", { login: "alice:apw" })).status).toBe(404);
    expect((await rawRequest(port, "GET", "/alice/", { login: "alice:apw" })).status).toBe(404);
    expect((await rawRequest(port, "GET", "/bob/secret/data/sentinel", { login: "alice:apw" })).status).toBe(404);
    expect((await rawRequest(port, "GET", "/Bob/secret/data/sentinel", { login: "bob:bpw" })).status).toBe(404);
  });
});
