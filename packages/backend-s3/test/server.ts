import { randomBytes } from "node:crypto";
import { S3Client } from "@aws-sdk/client-s3";
import { requireTestServer } from "@borgstore/testkit";
import { S3Backend, type S3BackendOptions, createS3Client, parseS3Url } from "../src/index.js";

// Node 20 is what this project supports; the SDK's "will need Node 22" notice is known (README).
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";

/** The S3 service under test (radosgw from scripts/test-servers/radosgw.sh, or any other), or undefined. */
export const serverUrl = requireTestServer("BORGSTORE_TEST_S3_URL", "S3 backend tests (Ceph radosgw)");

/** A prefix of its own for this test run, below the URL's path, so runs never meet. */
const runPrefix = `run-${Date.now().toString(36)}-${randomBytes(3).toString("hex")}`;
let counter = 0;

export function location() {
  return parseS3Url(serverUrl as string);
}

/** A backend at a fresh, empty path of the test bucket. */
export function freshBackend(overrides: Partial<S3BackendOptions> = {}): S3Backend {
  const loc = location();
  const path = `${loc.basePath}${runPrefix}/t${++counter}`;
  return S3Backend.fromUrl(serverUrl as string, { path, ...overrides });
}

/** A plain SDK client on the same service, to look at the bucket behind the backend's back. */
export function rawClient(): S3Client {
  const loc = location();
  return createS3Client({
    endpoint: loc.endpoint,
    credentials: { accessKeyId: loc.accessKeyId ?? "", secretAccessKey: loc.secretAccessKey ?? "" },
  });
}

export { S3Client };
