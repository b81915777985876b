import type { Permissions } from "@borgstore/core";
import type { FairShareLimits, HostingConfig } from "./config.js";
import { fairShareOf } from "./fair-share.js";
import { type Identity, identityOf, permissionsFor } from "./policy.js";
import type { QuotaLimits } from "./usage.js";

/** A signed-in login as one configuration sees it: who it acts for and that user's fair share. */
export interface SignedIn {
  readonly identity: Identity;
  readonly fairShare: FairShareLimits;
  /** Its access to each repository asked for so far, by "owner/repo" (see RouteTable.access). */
  readonly access: Map<string, Access>;
}

/** What a login may do in one repository, and what a store there must keep, under one configuration. */
export interface Access {
  readonly permissions: Permissions | undefined | "denied";
  readonly limits: QuotaLimits;
  /** The repository's metric and log label ("owner/repo"). */
  readonly label: string;
}

/** Repositories remembered per login: names a login tries beyond these are worked out again (no growth per name). */
const MAX_ACCESS_PER_LOGIN = 4096;

/**
 * What routing works out from the configuration for a login and a repository, once per
 * configuration object rather than at every request (a reload makes a new configuration, so a
 * new table: requests in flight keep the answers they started with). Everything in it follows
 * from the configuration alone, never from a request's text beyond the names it looked up.
 */
export class RouteTable {
  readonly config: HostingConfig;
  readonly #logins = new Map<string, SignedIn | undefined>();

  constructor(config: HostingConfig) {
    this.config = config;
  }

  /** The identity of `login`, a login the htpasswd file signed in (identityOf); undefined: none. */
  signedIn(login: string): SignedIn | undefined {
    if (this.#logins.has(login)) return this.#logins.get(login);
    const identity = identityOf(this.config, login);
    const signedIn = identity && { identity, fairShare: fairShareOf(this.config, identity.user), access: new Map<string, Access>() };
    this.#logins.set(login, signedIn);
    return signedIn;
  }

  /** What `signedIn` may do in `owner`'s `repo` (`key` is "owner/repo"), and the limits of a store there. */
  access(signedIn: SignedIn, key: string, owner: string, repo: string): Access {
    const known = signedIn.access.get(key);
    if (known) return known;
    const access: Access = {
      permissions: permissionsFor(this.config, signedIn.identity, owner, repo),
      limits: limitsOf(this.config, owner, repo),
      label: key,
    };
    if (signedIn.access.size >= MAX_ACCESS_PER_LOGIN) signedIn.access.clear();
    signedIn.access.set(key, access);
    return access;
  }
}

/** The limits a store into `user`'s `repo` must keep under `config`. */
export function limitsOf(config: HostingConfig, user: string, repo: string): QuotaLimits {
  const key = `${user}/${repo}`;
  const own = Object.hasOwn(config.repos, key) ? config.repos[key]?.quota : undefined;
  return {
    repo: own ?? config.repositories.quota,
    user: Object.hasOwn(config.users, user) ? config.users[user]?.quota : undefined,
  };
}
