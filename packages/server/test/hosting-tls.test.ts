import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { requireReferencePeer, runReferencePython } from "@borgstore/testkit";
import { afterAll, describe, expect, it } from "vitest";
import { tempDir } from "./helpers.js";
import { startHosting, writeHostingConfig, writeHtpasswd } from "./hosting-helpers.js";
import { issue, makeCa } from "./tls-helpers.js";

/**
 * Issue 16: the hosting mode speaks TLS itself ([tls] in the configuration file): the unmodified
 * Python client backs up through a tenant repository over HTTPS, trusting only a CA made here.
 */

const dir = tempDir("borgstore-hosting-tls-");
afterAll(() => dir.remove());
const peer = requireReferencePeer("the reference's Python client through a hosting-mode repository over TLS", ["requests"]);

function tlsHost(cert: string, key: string): string {
  const folder = join(dir.path, "host");
  mkdirSync(folder, { recursive: true });
  writeHtpasswd(join(folder, "htpasswd"), { alice: "apw" });
  return writeHostingConfig(folder, `file://${folder}/repos/{user}/{repo}`, `[tls]\ncert = "${cert}"\nkey = "${key}"\n`);
}

describe.skipIf(!peer)("hosting mode over TLS", () => {
  it("serves the unmodified Python client through /alice/laptop/ over https with the [tls] certificate", async () => {
    const ca = makeCa(dir.path);
    const { cert, key } = issue(dir.path, "hosting", 0x3003);
    const server = await startHosting(tlsHost(cert, key));
    try {
      expect(server.stderr()).toMatch(/on https:\/\/127\.0\.0\.1:\d+\/<user>\/<repo>\//);
      const code = `
import sys
from borgstore.store import Store
store = Store(sys.argv[1], config={"data/": {"levels": [0]}})
store.create()
with store:
    store.store("data/a", b"over tls")
    assert store.load("data/a") == b"over tls"
    print(sorted(i.name for i in store.list("data")))
`;
      const run = await runReferencePython(peer as NonNullable<typeof peer>, code, {
        args: [`https://alice:apw@localhost:${server.port}/alice/laptop/`],
        env: { REQUESTS_CA_BUNDLE: ca },
        timeoutMs: 60_000,
      });
      expect(run.status, run.stderr).toBe(0);
      expect(run.stdout.toString()).toContain("['a']");
    } finally {
      expect(await server.stop()).toBe(0);
    }
  }, 60_000);

  it("refuses to start when the [tls] files do not make a certificate (exit 2)", async () => {
    const broken = join(dir.path, "broken.pem");
    writeFileSync(broken, "-----BEGIN CERTIFICATE-----\nbroken\n-----END CERTIFICATE-----\n");
    await expect(startHosting(tlsHost(broken, broken))).rejects.toThrow(/exited with 2 before listening:[\s\S]*tls: /);
  });
});
