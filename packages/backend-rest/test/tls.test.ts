import { execFile } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";
import { requireTestServer } from "@borgstore/testkit";
import { describe, expect, it } from "vitest";
import { RestBackend } from "../src/index.js";

// nginx's TLS port (scripts/test-servers/nginx.sh) in front of our socket-activated server, with a
// self-signed certificate. The client has no CA option of its own: Node's documented way to trust
// another CA is NODE_EXTRA_CA_CERTS, read at process start, hence a child process.
const tlsUrl = requireTestServer("BORGSTORE_TEST_REST_TLS_URL", "REST client over https (nginx with TLS)");
const ca = process.env.BORGSTORE_TEST_NGINX_TLS_CA;

describe.skipIf(!tlsUrl)("the REST client over https", () => {
  it("with the certificate's CA in NODE_EXTRA_CA_CERTS, a store is created, written, read, listed and destroyed over TLS", async () => {
    const { stdout } = await promisify(execFile)(process.execPath, [join(import.meta.dirname, "fixtures/tls-round-trip.mjs"), tlsUrl as string], {
      env: { ...process.env, NODE_EXTRA_CA_CERTS: ca },
    });
    expect(JSON.parse(stdout)).toEqual({ loaded: "sent over TLS", listed: ["over-tls"] });
  });

  it("without it, the self-signed certificate is refused: nothing is sent in the clear or unverified", async () => {
    const backend = new RestBackend({ url: tlsUrl as string, retries: 0, retryDelay: 10 });
    const err = await backend.create().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Error);
    expect(`${(err as Error).message} ${String((err as Error).cause)}`).toMatch(/self[- ]signed certificate/i);
  });
});
