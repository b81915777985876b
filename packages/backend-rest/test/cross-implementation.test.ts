import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import { Store } from "@borgstore/core";
import { type ReferenceServer, describeCrossImplementation, requireReferencePeer, startReferenceServer } from "@borgstore/testkit";
import { afterAll } from "vitest";
import { RestBackend } from "../src/index.js";

// The REST pair under test is our client and the reference's server; the reference itself works
// on the directory that server serves, through its own posixfs backend (file://).
const dir = mkdtempSync(join(tmpdir(), "borgstore-rest-cross-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const peer = requireReferencePeer("rest: our client → the reference's server", ["requests"]);
let cells = 0;

describeCrossImplementation({
  name: "rest: our client → the reference's server over TCP",
  modules: ["requests"],
  location: async () => {
    const path = join(dir, `tcp${++cells}`);
    const server: ReferenceServer = await startReferenceServer(peer as NonNullable<typeof peer>, {
      backend: `file://${path}`,
      username: "borg",
      password: "secret",
    });
    return {
      referenceUrl: `file://${path}`,
      // One request at a time: the reference's threaded server opens and closes its one backend per
      // request, so concurrent requests (our Store lists nesting directories ahead) fail with 412 or
      // 500 now and then (shared/reference/README.md). Default concurrency against it is tested elsewhere.
      ourStore: (plan) =>
        new Store({ backend: new RestBackend({ url: server.url, concurrency: 1, retryDelay: 50 }), config: plan.config }),
      cleanup: () => server.stop(),
    };
  },
});

// `rest:///path` makes our client run `borgstore-server-rest --stdio` from PATH: here, the reference's.
const bin = join(dir, "bin");
mkdirSync(bin);
if (peer)
  writeFileSync(
    join(bin, "borgstore-server-rest"),
    `#!/bin/sh\nPYTHONPATH="${peer.src}" PYTHONDONTWRITEBYTECODE=1 exec "${peer.python}" -m borgstore.server.rest "$@"\n`,
    { mode: 0o755 },
  );
const withReferenceServer = { ...process.env, PATH: `${bin}${delimiter}${process.env.PATH ?? ""}` };

describeCrossImplementation({
  name: "rest: our client → the reference's server over stdio",
  modules: ["requests"],
  location: () => {
    const path = join(dir, `stdio${++cells}`);
    return {
      referenceUrl: `file://${path}`,
      // rest:///REL or rest:////ABS: the slash after the empty host only separates.
      ourStore: (plan) =>
        new Store({ backend: new RestBackend({ url: `rest:///${path}`, env: withReferenceServer, retryDelay: 50 }), config: plan.config }),
    };
  },
});
