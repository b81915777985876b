import { randomBytes } from "node:crypto";
import { requireTestServer } from "@borgstore/testkit";
import { describe, expect, it } from "vitest";
import { RestBackend } from "../src/index.js";

// rest://host//path through a real OpenSSH (scripts/test-servers/sshd.sh puts borgstore-server-rest
// on the test user's PATH). BORGSTORE_RSH points ssh at that server's own ssh_config.
const sshConfig = requireTestServer("BORGSTORE_TEST_SSHD_SSH_CONFIG", "REST client over ssh (rest://)");

describe.skipIf(!sshConfig)("rest:// through ssh", () => {
  it("creates, stores, loads, lists and destroys a store on the remote side", { timeout: 60_000 }, async () => {
    const alias = process.env.BORGSTORE_TEST_SSHD_HOST_ALIAS as string;
    const dataDir = process.env.BORGSTORE_TEST_SSHD_DATA_DIR as string;
    const url = `rest://${alias}/${dataDir}/rest-${randomBytes(4).toString("hex")}`;
    const env = { ...process.env, BORGSTORE_RSH: `ssh -F ${sshConfig} -o BatchMode=yes` };
    const b = new RestBackend({ url, env, retryDelay: 100 });
    await b.create();
    await b.open();
    try {
      await b.store("item", new TextEncoder().encode("over ssh"));
      expect(Buffer.from(await b.load("item")).toString()).toBe("over ssh");
      const names: string[] = [];
      for await (const i of b.list("")) names.push(i.name);
      expect(names).toContain("item");
      await b.delete("item");
      expect((await b.info("item")).exists).toBe(false);
    } finally {
      await b.close();
      await b.destroy();
    }
  });
});
