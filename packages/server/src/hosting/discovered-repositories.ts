import { ErrorCodes, isBorgStoreError } from "@borgstore/core";
import { backendFromServerUrl } from "../backend-url.js";
import { isName } from "./tenant-path.js";
import type { UsageRecord, UsageRecordStore } from "./usage-records.js";

/**
 * The usage records, plus a not clean record (measured on load) for every repository of the user
 * found in the backend without one. The records are otherwise the only list of a user's
 * repositories: deleting them (by hand, a lifecycle rule on the prefix) would lift the user's quota
 * by what those repositories hold. Found by listing the template's level above `{repo}` (one LIST
 * with a delimiter on s3:, a readdir on file:) at each load of a user; a template where `{repo}` is
 * not a whole path segment after `{user}` finds nothing.
 */
export class DiscoveredRepositories implements UsageRecordStore {
  readonly #records: UsageRecordStore;
  readonly #template: () => string;
  readonly changedElsewhere?: (user: string) => Promise<boolean>;
  readonly close?: () => Promise<void>;

  constructor(records: UsageRecordStore, template: () => string) {
    this.#records = records;
    this.#template = template;
    // Present only as the records have them: Repositories tells shared records by changedElsewhere.
    if (records.changedElsewhere) this.changedElsewhere = (user) => records.changedElsewhere?.(user) ?? Promise.resolve(false);
    if (records.close) this.close = () => records.close?.() ?? Promise.resolve();
  }

  async readUser(user: string): Promise<Map<string, UsageRecord>> {
    const [records, found] = await Promise.all([this.#records.readUser(user), repositoriesIn(this.#template(), user)]);
    for (const repo of found) if (!records.has(repo)) records.set(repo, { bytes: 0, objects: 0, clean: false });
    return records;
  }

  write(user: string, repo: string, record: UsageRecord, live?: () => UsageRecord): Promise<void> {
    return this.#records.write(user, repo, record, live);
  }

  remove(user: string, repo: string): Promise<void> {
    return this.#records.remove(user, repo);
  }
}

/** The names of the folders at the template's `{repo}` level for `user` (none when the template does not allow listing them). */
export async function repositoriesIn(template: string, user: string): Promise<string[]> {
  const at = template.indexOf("/{repo}");
  const after = template.slice(at + "/{repo}".length);
  const userAt = template.indexOf("{user}");
  if (at < 0 || (after !== "" && !after.startsWith("/")) || userAt < 0 || userAt > at) return [];
  let backend: Awaited<ReturnType<typeof backendFromServerUrl>>;
  try {
    backend = await backendFromServerUrl(template.slice(0, at).replaceAll("{user}", user));
    await backend.open();
  } catch (err) {
    if (isBorgStoreError(err, ErrorCodes.BACKEND_DOES_NOT_EXIST)) return [];
    throw err;
  }
  try {
    const names: string[] = [];
    for await (const item of backend.list("")) if (item.directory && isName(item.name)) names.push(item.name);
    return names;
  } finally {
    await backend.close();
  }
}
