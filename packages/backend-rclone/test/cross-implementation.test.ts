import { rm } from "node:fs/promises";
import { join } from "node:path";
import { Store } from "@borgstore/core";
import { describeCrossImplementation } from "@borgstore/testkit";
import { RcloneBackend } from "../src/index.js";
import { localRoot, sftpRemoteBase } from "./remotes.js";

// Both sides name the remote the same way: the reference's `rclone:REMOTE` passes REMOTE to rclone as is.
const root = localRoot();
let cells = 0;

describeCrossImplementation({
  name: "rclone on a :local: remote",
  modules: ["requests"],
  location: () => {
    const remote = `:local:${join(root, `cell${++cells}`)}`;
    return {
      referenceUrl: `rclone:${remote}`,
      ourStore: (plan) => new Store({ backend: new RcloneBackend({ remote }), config: plan.config }),
      cleanup: () => rm(join(root, `cell${cells}`), { recursive: true, force: true }),
    };
  },
});

const sftp = sftpRemoteBase();

describeCrossImplementation({
  name: "rclone on an sftp remote to OpenSSH",
  modules: ["requests"],
  skip: !sftp && "needs BORGSTORE_TEST_SSHD_HOST (scripts/test-servers/sshd.sh)",
  location: () => {
    const remote = (sftp as NonNullable<typeof sftp>).remote(`rclone-cross-${process.pid}-${++cells}`);
    return {
      referenceUrl: `rclone:${remote}`,
      ourStore: (plan) => new Store({ backend: new RcloneBackend({ remote }), config: plan.config }),
      cleanup: () => new RcloneBackend({ remote }).destroy(),
    };
  },
});
