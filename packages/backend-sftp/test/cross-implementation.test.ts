import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { sftpBackendFromUrl } from "@borgstore/backend-sftp";
import { Store } from "@borgstore/core";
import { describeCrossImplementation } from "@borgstore/testkit";
import { afterAll } from "vitest";
import { env, freshPath, localServer, serverUrl, testOptions } from "./server.js";

/**
 * The reference's sftp backend (paramiko) reads only ~/.ssh/config and ~/.ssh/known_hosts: a HOME
 * of its own that names the key and vouches for the host key the server script generated.
 */
function referenceHome(): string {
  const home = mkdtempSync(join(tmpdir(), "borgstore-sftp-reference-home-"));
  mkdirSync(join(home, ".ssh"), { mode: 0o700 });
  writeFileSync(join(home, ".ssh", "config"), `Host ${env.host}\n  IdentityFile ${env.key}\n`);
  writeFileSync(join(home, ".ssh", "known_hosts"), readFileSync(env.knownHosts, "utf8"));
  afterAll(() => rmSync(home, { recursive: true, force: true }));
  return home;
}

const home = localServer ? referenceHome() : "";

function backendAt(url: string) {
  const backend = sftpBackendFromUrl(url, testOptions());
  if (!backend) throw new Error(`not an sftp URL: ${url}`);
  return backend;
}

describeCrossImplementation({
  name: "sftp through OpenSSH",
  modules: ["paramiko"],
  // The reference is given the key through ~/.ssh, so the sshd must be this machine's (its key at hand).
  skip: !localServer && "needs the sshd of scripts/test-servers/sshd.sh on this machine (BORGSTORE_TEST_SFTP_URL and its key)",
  location: () => {
    const url = `${(serverUrl as string).replace(/\/+$/, "")}/${freshPath("cross")}`;
    return {
      referenceUrl: url,
      referenceEnv: { HOME: home, SSH_AUTH_SOCK: "" },
      ourStore: (plan) => new Store({ backend: backendAt(url), config: plan.config }),
      cleanup: () => backendAt(url).destroy(),
    };
  },
});
