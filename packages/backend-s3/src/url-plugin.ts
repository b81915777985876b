import { InvalidArgument, type BackendPlugin, type UrlOptions } from "@borgstore/core";
import { S3Backend } from "./s3-backend.js";
import { isS3Url } from "./url.js";

/** URL resolution for `s3:` and `b2:` (docs/backend-urls.md#s3-and-b2-s3-backblaze-b2). */
export const plugin: BackendPlugin = {
  schemes: ["s3", "b2"],
  fromUrl(url: string, options: UrlOptions = {}): S3Backend | undefined {
    if (!isS3Url(url)) return undefined;
    if (options.quota !== undefined) throw new InvalidArgument("the S3 backend does not support a quota");
    return S3Backend.fromUrl(url, options.permissions ? { permissions: options.permissions } : {});
  },
};
