import { mkdirSync, writeFileSync } from "node:fs";
import { delimiter, join } from "node:path";
import { PosixFsBackend } from "@borgstore/backend-posixfs";
import { Store } from "@borgstore/core";
import { describeCrossImplementation } from "@borgstore/testkit";
import { afterAll } from "vitest";
import { CLI, type ServerProcess, startServer, tempDir } from "./helpers.js";

// The REST pair under test is the reference's client and our server; the other implementation
// works on the directory the server serves, with our posixfs backend.
const dir = tempDir("borgstore-server-cross-");
afterAll(() => dir.remove());
let cells = 0;

const ourPosixFsStore = (path: string) => (plan: { config: Record<string, { levels: number[] }> }) =>
  new Store({ backend: new PosixFsBackend({ path }), config: plan.config });

describeCrossImplementation({
  name: "rest: the reference's client → our server over TCP",
  modules: ["requests"],
  location: async () => {
    const path = join(dir.path, `tcp${++cells}`);
    const server: ServerProcess = await startServer(["--backend", `file://${path}`, "--username", "borg"], {
      BORGSTORE_SERVER_PASSWORD: "secret",
    });
    return {
      referenceUrl: `http://borg:secret@127.0.0.1:${server.port}/`,
      ourStore: ourPosixFsStore(path),
      cleanup: async () => {
        await server.stop();
      },
    };
  },
});

// `rest:///path` makes the reference's client run `borgstore-server-rest --stdio` from PATH: ours.
const bin = join(dir.path, "bin");
mkdirSync(bin);
writeFileSync(join(bin, "borgstore-server-rest"), `#!/bin/sh\nexec "${process.execPath}" "${CLI}" "$@"\n`, { mode: 0o755 });

describeCrossImplementation({
  name: "rest: the reference's client → our server over stdio",
  modules: ["requests"],
  location: () => {
    const path = join(dir.path, `stdio${++cells}`);
    return {
      referenceUrl: `rest:///${path}`, // rest:///REL or rest:////ABS: the slash after the empty host separates
      referenceEnv: { PATH: `${bin}${delimiter}${process.env.PATH ?? ""}` },
      ourStore: ourPosixFsStore(path),
    };
  },
});
