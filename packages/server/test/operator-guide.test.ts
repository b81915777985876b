import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { requireReferencePeer, runReferencePython } from "@borgstore/testkit";
import { afterAll, describe, expect, it } from "vitest";
import { tempDir } from "./helpers.js";
import { startHosting, writeHtpasswd } from "./hosting-helpers.js";
import { issue, makeCa } from "./tls-helpers.js";

/**
 * Issue 16: the server README's operator's guide works as written. Its configuration file is taken
 * from the README (the block after `<!-- operator-guide:config -->`), with only its folders moved
 * into a temp dir and its ports made free ones; then the steps the guide promises are checked
 * against the running server: HTTPS with the [tls] certificate, a backup by the unmodified Python
 * client with the create-only login, the owner's delete kept by the delete grace, the metrics
 * listener, the audit log and the status page.
 */

const dir = tempDir("borgstore-operator-guide-");
afterAll(() => dir.remove());
const peer = requireReferencePeer("the operator's guide's backup with the unmodified Python client", ["requests"]);

function guideConfig(): string {
  const readme = readFileSync(new URL("../README.md", import.meta.url), "utf8");
  const at = readme.indexOf("<!-- operator-guide:config -->");
  expect(at, "the README marks the guide's configuration file").toBeGreaterThan(0);
  const block = /```toml\n([\s\S]*?)```/.exec(readme.slice(at));
  expect(block, "a toml block follows the marker").not.toBeNull();
  return (block as RegExpExecArray)[1] as string;
}

describe.skipIf(!peer)("the README's operator's guide", () => {
  it("runs as written: HTTPS, a create-only backup, the owner's delete kept in grace, metrics, audit log and status page", async () => {
    const etc = join(dir.path, "etc");
    const srv = join(dir.path, "srv");
    mkdirSync(etc, { recursive: true });
    mkdirSync(join(srv, "repos"), { recursive: true });
    const config = guideConfig()
      .replaceAll("/etc/borgstore", etc)
      .replaceAll("/srv/borgstore", srv)
      .replace('host = "0.0.0.0"', 'host = "127.0.0.1"')
      .replace(/^port = \d+/gm, "port = 0");
    const configPath = join(etc, "hosting.toml");
    writeFileSync(configPath, config);
    writeHtpasswd(join(etc, "htpasswd"), { alice: "apw", "alice-create": "cpw", bob: "bpw" });
    const ca = makeCa(etc);
    const { cert, key } = issue(etc, "host", 0x4004);
    renameSync(cert, join(etc, "cert.pem"));
    renameSync(key, join(etc, "key.pem"));

    const server = await startHosting(configPath);
    try {
      const log = server.stderr();
      expect(log).toMatch(/on https:\/\/127\.0\.0\.1:\d+\/<user>\/<repo>\//);
      const metricsPort = /metrics on http:\/\/127\.0\.0\.1:(\d+)\/metrics/.exec(log)?.[1];
      expect(metricsPort, log).toBeDefined();
      expect(await (await fetch(`http://127.0.0.1:${metricsPort}/healthz`)).text()).toMatch(/ok/);

      const code = `
import sys
from borgstore.store import Store
create_url, owner_url = sys.argv[1], sys.argv[2]
owner = Store(owner_url, config={"data/": {"levels": [0]}})
owner.create()  # the guide makes the repository with the owner's login
store = Store(create_url, config={"data/": {"levels": [0]}})
with store:
    store.store("data/a", b"first backup")
    store.store("data/a", b"first backup")  # a retried identical store is accepted
    try:
        store.delete("data/a")
        print("create-only login deleted")
    except Exception as e:
        print("create-only delete refused:", type(e).__name__)
with owner:
    owner.delete("data/a")
    print("owner sees", sorted(i.name for i in owner.list("data")))
`;
      const base = `localhost:${server.port}/alice/laptop/`;
      const run = await runReferencePython(peer as NonNullable<typeof peer>, code, {
        args: [`https://alice-create:cpw@${base}`, `https://alice:apw@${base}`],
        env: { REQUESTS_CA_BUNDLE: ca },
        timeoutMs: 60_000,
      });
      expect(run.status, run.stderr).toBe(0);
      const out = run.stdout.toString();
      expect(out).toContain("create-only delete refused");
      expect(out).toContain("owner sees []");

      // The delete grace kept the owner's delete where no client reaches it.
      const kept = join(srv, "state", "_delete-grace", "alice", "laptop");
      expect(existsSync(kept) && readdirSync(kept).length, "a kept value").toBeGreaterThan(0);
      // The audit log names the delete and the refused one.
      const audit = readFileSync(join(srv, "audit.log"), "utf8");
      expect(audit).toMatch(/"event":"delete"/);
      expect(audit).toMatch(/"user":"alice"/);
      // Metrics per user and repository (the kept value counts against the quota).
      const metrics = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
      expect(metrics).toMatch(/borgstore_stored_bytes\{[^}]*user="alice"[^}]*repo="alice\/laptop"[^}]*\} [1-9]/);
      // The status page over HTTPS, for alice only.
      const status = await runReferencePython(
        peer as NonNullable<typeof peer>,
        "import sys, requests\nr = requests.get(sys.argv[1], auth=('alice', 'apw'))\nprint(r.status_code, 'laptop' in r.text)\nr = requests.get(sys.argv[1], auth=('bob', 'bpw'))\nprint(r.status_code, 'laptop' in r.text)\n",
        { args: [`https://localhost:${server.port}/_status`], env: { REQUESTS_CA_BUNDLE: ca }, timeoutMs: 30_000 },
      );
      expect(status.status, status.stderr).toBe(0);
      expect(status.stdout.toString().trim().split("\n")).toEqual(["200 True", "200 False"]);
    } finally {
      expect(await server.stop()).toBe(0);
    }
  }, 90_000);
});
