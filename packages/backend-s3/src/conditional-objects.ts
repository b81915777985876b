import { DeleteObjectCommand, GetObjectCommand, ListObjectsV2Command, type ListObjectsV2CommandOutput, PutObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import { BackendError } from "@borgstore/core";
import { createS3Client } from "./client.js";
import { statusOf } from "./errors.js";
import { parseS3Url } from "./url.js";

/** An object's text as read, with the ETag a conditional write expects. */
export interface StoredText {
  /** The object's content (UTF-8). */
  text: string;
  /** Its ETag, unquoted. */
  etag: string;
}

/** A conditional write lost: the object changed (or appeared) since the ETag its writer expected (code BACKEND_ERROR). */
export class ObjectChangedElsewhere extends BackendError {}

/**
 * Small text objects under one prefix of a bucket, written only if they are still what the writer
 * last saw (If-Match / If-None-Match), for state several processes share: a writer that missed
 * another's write gets ObjectChangedElsewhere instead of replacing it. Not a Backend: these are
 * the server's own records beside the stores, not borgstore items.
 */
export class ConditionalObjects {
  readonly #client: S3Client;
  readonly #bucket: string;
  readonly #prefix: string;

  /** Objects under `prefix` (ending in "/", or "") of `bucket`, through `client` (see createS3Client). */
  constructor(client: S3Client, bucket: string, prefix: string) {
    this.#client = client;
    this.#bucket = bucket;
    this.#prefix = prefix;
  }

  /** From an `s3:`/`b2:` URL (docs/backend-urls.md): its bucket, with its path as the prefix. */
  static fromUrl(url: string): ConditionalObjects {
    const loc = parseS3Url(url);
    const client = createS3Client({
      flavour: loc.flavour,
      ...(loc.endpoint ? { endpoint: loc.endpoint } : {}),
      ...(loc.profile ? { profile: loc.profile } : {}),
      ...(loc.accessKeyId !== undefined && loc.secretAccessKey !== undefined
        ? { credentials: { accessKeyId: loc.accessKeyId, secretAccessKey: loc.secretAccessKey } }
        : {}),
    });
    return new ConditionalObjects(client, loc.bucket, loc.basePath);
  }

  /** The objects whose key (below the prefix) starts with `start`, each with its ETag. */
  async list(start: string): Promise<Map<string, string>> {
    const found = new Map<string, string>();
    let token: string | undefined;
    do {
      const page: ListObjectsV2CommandOutput = await this.#client.send(
        new ListObjectsV2Command({ Bucket: this.#bucket, Prefix: this.#prefix + start, ContinuationToken: token }),
      );
      for (const item of page.Contents ?? [])
        if (item.Key && item.ETag) found.set(item.Key.slice(this.#prefix.length), unquoted(item.ETag));
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    return found;
  }

  /** The object's text and ETag, undefined when there is none. */
  async get(key: string): Promise<StoredText | undefined> {
    try {
      const answer = await this.#client.send(new GetObjectCommand({ Bucket: this.#bucket, Key: this.#prefix + key }));
      return { text: (await answer.Body?.transformToString("utf8")) ?? "", etag: unquoted(answer.ETag ?? "") };
    } catch (err) {
      if (statusOf(err) === 404) return undefined;
      throw err;
    }
  }

  /**
   * Writes `text` if the object still has ETag `expected` (undefined: if there is none); its new ETag.
   * S3 ETags are the content's MD5: writers that may write equal texts must make them differ.
   */
  async put(key: string, text: string, expected: string | undefined): Promise<string> {
    try {
      const answer = await this.#client.send(
        new PutObjectCommand({
          Bucket: this.#bucket,
          Key: this.#prefix + key,
          Body: text,
          ContentType: "application/json",
          // radosgw 16 compares If-Match with the bare hex ETag: a quoted one never matches (measured).
          ...(expected === undefined ? { IfNoneMatch: "*" } : { IfMatch: expected }),
        }),
      );
      return unquoted(answer.ETag ?? "");
    } catch (err) {
      if (statusOf(err) === 412 || statusOf(err) === 409)
        throw new ObjectChangedElsewhere(`${key} changed since it was read (${expected ?? "absent"})`, { cause: err });
      throw err;
    }
  }

  /** Removes the object (an absent one is no error); unconditional, for a record whose repository is gone. */
  async delete(key: string): Promise<void> {
    await this.#client.send(new DeleteObjectCommand({ Bucket: this.#bucket, Key: this.#prefix + key }));
  }
}

function unquoted(etag: string): string {
  return etag.replaceAll('"', "");
}
