import { randomBytes } from "node:crypto";
import { Store } from "@borgstore/core";
import { describeCrossImplementation } from "@borgstore/testkit";
import { S3Backend } from "../src/index.js";
import { serverUrl } from "./server.js";

const run = `cross-${Date.now().toString(36)}-${randomBytes(3).toString("hex")}`;
let cells = 0;

describeCrossImplementation({
  name: "s3 through radosgw",
  modules: ["boto3"],
  skip: !serverUrl && "needs BORGSTORE_TEST_S3_URL (scripts/test-servers/radosgw.sh)",
  location: () => {
    // The same s3:KEY:SECRET@http://HOST:PORT/bucket/path URL form on both sides.
    const url = `${(serverUrl as string).replace(/\/+$/, "")}/${run}/cell${++cells}`;
    return {
      referenceUrl: url,
      // boto3 needs a region to sign with; radosgw accepts any.
      ourStore: (plan) => new Store({ backend: S3Backend.fromUrl(url), config: plan.config }),
      cleanup: () => S3Backend.fromUrl(url).destroy(),
    };
  },
});
