import { readFile } from "node:fs/promises";
import { dirname, isAbsolute, resolve, sep } from "node:path";
import { PERMISSION_SHORTCUTS, type Permissions, parseSize } from "@borgstore/core";
import { TomlError, parse as parseToml } from "smol-toml";
import { z } from "zod";
import { LOG_FORMATS, type LogFormat } from "../logger.js";
import { type DeleteGraceSetting, graceSetting, mapValues } from "./delete-grace-config.js";
import { deleteGraceKeys } from "./delete-grace-keys.js";
import { stateUrlOverlap } from "./state-url.js";

/**
 * The hosting mode's configuration file (TOML: comments, and an operator edits it by hand), as
 * read, validated and resolved by loadHostingConfig. docs/hosting-mode.md documents every key.
 */
export interface HostingConfig {
  /** Where the server listens. */
  listen: {
    /** The address to listen on (default 127.0.0.1). */
    host: string;
    /** The TCP port (0: a free one). */
    port: number;
  };
  /** The htpasswd file (absolute; a relative path is taken from the config file's folder). */
  htpasswd: string;
  /** Folder of the server's own records (repositories' usage figures); absolute, default `state` beside the file. */
  stateDir: string;
  /** An `s3:`/`b2:` URL whose bucket holds the usage records instead of stateDir, shared by replicas (docs/scale-out.md). */
  stateUrl?: string;
  /** TLS certificate and key files (absolute), when the server speaks HTTPS itself. */
  tls?: {
    /** The certificate chain (PEM). */
    cert: string;
    /** Its private key (PEM). */
    key: string;
  };
  /** Prometheus /metrics and /healthz on an address of their own (undefined: not served). */
  metrics?: {
    /** The address to listen on (default 127.0.0.1); not loopback only with `allowRemote`. */
    host: string;
    /** The TCP port (0: a free one). */
    port: number;
    /** Whether `host` may be an address other than loopback (the listener has no auth). */
    allowRemote: boolean;
    /** Distinct user/repository label pairs at most; further ones are counted as "_other". */
    maxLabelPairs: number;
  };
  /** The log's format and the audit log's file. */
  log: {
    /** `text` (the reference's lines) or `json` (one object a line: access, audit and messages). */
    format: LogFormat;
    /** Audit lines go to this file (absolute; JSON, appended), not to stderr. */
    audit?: string;
  };
  /** How repositories are made and limited. */
  repositories: {
    /** A backend URL with `{user}` and `{repo}` in it, e.g. `file:///srv/borgstore/{user}/{repo}`. */
    backend: string;
    /** Whether a user's `create` may make a repository that does not exist yet. */
    autoCreate: boolean;
    /** Bytes per repository at most (undefined: none). */
    quota?: number;
    /** Delete grace for every repository unless its user or itself says otherwise (delete-grace.ts). */
    deleteGrace?: DeleteGraceSetting;
  };
  /** Roles by name: the permissions a credential bound to it has in a repository. */
  roles: Readonly<Record<string, Permissions | undefined>>;
  /** htpasswd logins that are not their own user, or not an owner: which user and role each is. */
  credentials: Readonly<
    Record<
      string,
      {
        /** The user the login acts for. */
        user: string;
        /** The role it is bound to. */
        role: string;
      }
    >
  >;
  /** Per user: bytes over all their repositories at most, and their own fair-share figures. */
  users: Readonly<
    Record<
      string,
      {
        /** Bytes over all the user's repositories at most (undefined: none). */
        quota?: number;
        /** Delete grace of the user's repositories (undefined: the repositories' default). */
        deleteGrace?: DeleteGraceSetting;
      } & Partial<FairShareLimits>
    >
  >;
  /** Every user's share of the server unless [users.NAME] says otherwise (fair-share.ts). */
  fairShare: FairShareLimits;
  /** Per repository ("user/repo"): its own quota, and roles granted to other users. */
  repos: Readonly<
    Record<
      string,
      {
        /** Bytes in this repository at most (undefined: the repositories' default). */
        quota?: number;
        /** Other users and the role each is granted here. */
        grants: Readonly<Record<string, string>>;
        /** Delete grace of this repository (undefined: its user's, else the repositories' default). */
        deleteGrace?: DeleteGraceSetting;
      }
    >
  >;
}

/** What one user may hold of the server at once (docs/hosting-mode.md#fair-share). */
export interface FairShareLimits {
  /** Requests of the user running at once. */
  maxInFlight: number;
  /** Requests of the user waiting for one of those, in arrival order; beyond: 503 with Retry-After. */
  maxQueued: number;
  /** Bytes per second of request bodies, and (separately) of response bodies; undefined: no limit. */
  bandwidth?: number;
}

/** Defaults of [fair_share]: one client of ours (16 requests in flight) never waits; several queue. */
export const DEFAULT_FAIR_SHARE: FairShareLimits = { maxInFlight: 16, maxQueued: 256 };

/** A configuration file that cannot be used, with every problem found, each named by its key. */
export class HostingConfigError extends Error {
  /** Always "HostingConfigError". */
  override name = "HostingConfigError";
}

/**
 * Roles every configuration has: the reference server's permission shortcuts under short names.
 * `owner` may do everything; `no-delete` is `borg create` without `compact` (it may add, never
 * remove); `write-only` adds without reading data back; `read-only` restores and checks.
 */
export const BUILTIN_ROLES: Readonly<Record<string, Permissions | undefined>> = {
  owner: PERMISSION_SHORTCUTS["borgbackup-all"],
  "no-delete": PERMISSION_SHORTCUTS["borgbackup-no-delete"],
  "write-only": PERMISSION_SHORTCUTS["borgbackup-write-only"],
  "read-only": PERMISSION_SHORTCUTS["borgbackup-read-only"],
};

/** User and repository names: one path segment each, never "." or "..", no encoding games. */
const SEGMENT = /^[a-z0-9][a-z0-9._-]{0,63}$/;
const segment = (what: string) =>
  z.string().regex(SEGMENT, `a ${what} name is 1–64 of a–z, 0–9, ".", "_", "-", starting with a letter or digit`);

const size = z
  .union([z.number().int().nonnegative(), z.string()])
  .transform((value, ctx) => {
    if (typeof value === "number") return value;
    try {
      return parseSize(value);
    } catch (err) {
      ctx.addIssue({ code: "custom", message: (err as Error).message });
      return z.NEVER;
    }
  });

/** Below this a throttled response would trip the slow-client guard (--min-rate) on the user's own connections. */
const LEAST_BANDWIDTH = 64 * 1024;
const shareKeys = {
  max_in_flight: z.number().int().min(1).max(100_000).optional(),
  max_queued: z.number().int().min(0).max(1_000_000).optional(),
  bandwidth: size.refine((bytes) => bytes >= LEAST_BANDWIDTH, `at least 64k (bytes per second)`).optional(),
};

const permissions = z.union([
  z.enum(Object.keys(PERMISSION_SHORTCUTS) as [string, ...string[]]).transform((name) => PERMISSION_SHORTCUTS[name]),
  z
    .record(z.string(), z.string().regex(/^[lrwWD]*$/, "permission letters are l, r, w, W and D"))
    // The reference (and core) read an empty mapping as "no restriction": a role written as {} to
    // mean "nothing" would be an owner, of its user's repositories and of every one granted to it.
    .refine((mapping) => Object.keys(mapping).length > 0, 'an empty role would allow everything: write { "" = "" } for a role that may do nothing, or "owner"'),
]);

const schema = z.strictObject({
  listen: z.strictObject({
    host: z.string().default("127.0.0.1"),
    port: z.number().int().min(0).max(65535),
  }),
  htpasswd: z.string().min(1),
  state_dir: z.string().min(1).default("state"),
  state_url: z
    .string()
    .regex(/^(s3|b2):.*\/[^/]+\/.+$/s, "an s3: or b2: URL with a bucket and a path, e.g. s3:KEY:SECRET@https://rgw.example/bucket/borgstore-state")
    .optional(),
  tls: z.strictObject({ cert: z.string().min(1), key: z.string().min(1) }).optional(),
  metrics: z
    .strictObject({
      host: z.string().min(1).default("127.0.0.1"),
      port: z.number().int().min(0).max(65535),
      allow_remote: z.boolean().default(false),
      max_label_pairs: z.number().int().min(1).default(10_000),
    })
    .optional(),
  log: z.strictObject({ format: z.enum(LOG_FORMATS).default("text"), audit: z.string().min(1).optional() }).default({ format: "text" }),
  repositories: z.strictObject({
    backend: z
      .string()
      .refine((url) => url.includes("{user}") && url.includes("{repo}"), "must contain {user} and {repo}, e.g. file:///srv/borgstore/{user}/{repo}")
      // Names may hold "-", "_" and ".": "{user}-{repo}" makes bob's "x-y" the same store as bob-x's "y".
      .refine(
        (url) => !url.split("/").some((part) => part.includes("{user}") && part.includes("{repo}")),
        "{user} and {repo} must be in different path segments (as in …/{user}/{repo}): in one segment two users' repositories can get the same name",
      ),
    auto_create: z.boolean().default(false),
    quota: size.optional(),
    ...deleteGraceKeys,
  }),
  roles: z.record(segment("role"), permissions).default({}),
  credentials: z.record(z.string().min(1), z.strictObject({ user: segment("user"), role: z.string() })).default({}),
  users: z.record(segment("user"), z.strictObject({ quota: size.optional(), ...deleteGraceKeys, ...shareKeys })).default({}),
  fair_share: z.strictObject(shareKeys).default({}),
  repos: z
    .record(
      z.string().refine((key) => isRepoKey(key), 'a repository is named "user/repo"'),
      z.strictObject({ quota: size.optional(), grants: z.record(segment("user"), z.string()).default({}), ...deleteGraceKeys }),
    )
    .default({}),
});

/** The set keys of a [fair_share] or [users.NAME] table, by their names in HostingConfig. */
function fairShareLimits(keys: { max_in_flight?: number; max_queued?: number; bandwidth?: number }): Partial<FairShareLimits> {
  const limits: Partial<FairShareLimits> = {};
  if (keys.max_in_flight !== undefined) limits.maxInFlight = keys.max_in_flight;
  if (keys.max_queued !== undefined) limits.maxQueued = keys.max_queued;
  if (keys.bandwidth !== undefined) limits.bandwidth = keys.bandwidth;
  return limits;
}

function isRepoKey(key: string): boolean {
  const [user, repo, ...rest] = key.split("/");
  return rest.length === 0 && SEGMENT.test(user ?? "") && SEGMENT.test(repo ?? "");
}

/** Reads, validates and resolves the configuration file at `path`; throws HostingConfigError. */
export async function loadHostingConfig(path: string): Promise<HostingConfig> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (err) {
    throw new HostingConfigError(`${path}: ${(err as Error).message}`);
  }
  return parseHostingConfig(text, dirname(resolve(path)), path);
}

/** Validates the TOML `text`; relative file names are taken from `baseDir`. */
export function parseHostingConfig(text: string, baseDir: string, source = "config"): HostingConfig {
  let raw: unknown;
  try {
    raw = parseToml(text);
  } catch (err) {
    const where = err instanceof TomlError ? `:${err.line}:${err.column}` : "";
    throw new HostingConfigError(`${source}${where}: not TOML: ${(err as Error).message.split("\n")[0]}`);
  }
  const parsed = schema.safeParse(raw);
  if (!parsed.success) throw new HostingConfigError(formatIssues(source, parsed.error.issues));
  const c = parsed.data;
  const roles = { ...BUILTIN_ROLES, ...c.roles };
  const problems: string[] = [];
  const knownRole = (role: string, at: string) => {
    if (!Object.hasOwn(roles, role)) problems.push(`${at}: no role "${role}" (known: ${Object.keys(roles).join(", ")})`);
  };
  for (const [login, credential] of Object.entries(c.credentials)) knownRole(credential.role, `credentials.${login}.role`);
  for (const [repo, settings] of Object.entries(c.repos))
    for (const [user, role] of Object.entries(settings.grants)) {
      knownRole(role, `repos."${repo}".grants.${user}`);
      // A user's own logins have their roles in their repositories; a grant to the owner would be ignored.
      if (repo.split("/")[0] === user)
        problems.push(`repos."${repo}".grants.${user}: ${user} owns this repository (limit a login with a role under [credentials])`);
    }
  const stateDir = resolve(baseDir, c.state_dir);
  const stateProblem = stateDirOverlap(stateDir, c.repositories.backend);
  if (stateProblem) problems.push(`state_dir: ${stateProblem}`);
  const stateUrlProblem = c.state_url ? stateUrlOverlap(c.state_url, c.repositories.backend) : undefined;
  if (stateUrlProblem) problems.push(`state_url: ${stateUrlProblem}`);
  if (c.state_url) problems.push(...graceWithSharedState(c));
  if (problems.length > 0) throw new HostingConfigError(`${source}: ${problems.join("; ")}`);
  return {
    listen: c.listen,
    htpasswd: resolve(baseDir, c.htpasswd),
    stateDir,
    ...(c.state_url ? { stateUrl: c.state_url } : {}),
    ...(c.tls ? { tls: { cert: resolve(baseDir, c.tls.cert), key: resolve(baseDir, c.tls.key) } } : {}),
    ...(c.metrics
      ? { metrics: { host: c.metrics.host, port: c.metrics.port, allowRemote: c.metrics.allow_remote, maxLabelPairs: c.metrics.max_label_pairs } }
      : {}),
    log: { format: c.log.format, ...(c.log.audit === undefined ? {} : { audit: resolve(baseDir, c.log.audit) }) },
    repositories: {
      backend: c.repositories.backend,
      autoCreate: c.repositories.auto_create,
      quota: c.repositories.quota,
      ...graceSetting(c.repositories),
    },
    roles,
    credentials: c.credentials,
    users: mapValues(c.users, ({ delete_grace, protect, quota, ...share }) => ({
      quota,
      ...fairShareLimits(share),
      ...graceSetting({ delete_grace, protect }),
    })),
    repos: mapValues(c.repos, ({ delete_grace, protect, ...repo }) => ({ ...repo, ...graceSetting({ delete_grace, protect }) })),
    fairShare: { ...DEFAULT_FAIR_SHARE, ...fairShareLimits(c.fair_share) },
  };
}

/**
 * A delete grace keeps values in each replica's own state folder: another replica serving the user
 * (a failover) neither counts them in the usage nor can restore them, and they go with the host.
 */
function graceWithSharedState(c: z.output<typeof schema>): string[] {
  const tables: Array<[string, { delete_grace?: number }]> = [
    ["repositories", c.repositories],
    ...Object.entries(c.users).map(([user, table]): [string, { delete_grace?: number }] => [`users.${user}`, table]),
    ...Object.entries(c.repos).map(([repo, table]): [string, { delete_grace?: number }] => [`repos."${repo}"`, table]),
  ];
  return tables
    .filter(([, table]) => (table.delete_grace ?? 0) > 0)
    .map(
      ([at]) =>
        `${at}.delete_grace: not with state_url: the delete grace keeps values in each replica's own state_dir, where another replica taking over the user neither counts nor restores them`,
    );
}

/**
 * Why the state folder may not be where it is: inside the folder a file:// template makes users'
 * repositories in (the default `state` beside a config in /srv/borgstore, with repositories at
 * /srv/borgstore/{user}/{repo}, is the repositories' folder of a login named "state", who could read
 * and forge every user's usage records), or containing it.
 */
function stateDirOverlap(stateDir: string, backend: string): string | undefined {
  if (!backend.startsWith("file://")) return undefined;
  const path = backend.slice("file://".length);
  const placeholder = Math.min(...["{user}", "{repo}"].map((name) => path.indexOf(name)).filter((at) => at >= 0));
  const root = path.slice(0, path.lastIndexOf("/", placeholder) + 1);
  if (!isAbsolute(root)) return undefined;
  const reposRoot = resolve(root);
  const inside = (child: string, parent: string) => child === parent || child.startsWith(parent.endsWith(sep) ? parent : parent + sep);
  if (inside(stateDir, reposRoot))
    return `${stateDir} is inside ${reposRoot}, where repositories.backend makes users' repositories (a login named after its folder would reach the usage records); put state_dir elsewhere`;
  if (inside(reposRoot, stateDir))
    return `${stateDir} contains ${reposRoot}, where repositories.backend makes users' repositories; put state_dir elsewhere`;
  return undefined;
}

function formatIssues(source: string, issues: readonly z.core.$ZodIssue[]): string {
  const lines = issues.map((issue) => {
    const key = issue.path.map((p) => (typeof p === "string" && /^[A-Za-z0-9_-]+$/.test(p) ? p : JSON.stringify(p))).join(".");
    const message =
      issue.code === "unrecognized_keys"
        ? `unknown key${issue.keys.length > 1 ? "s" : ""} ${issue.keys.join(", ")}`
        : issue.code === "invalid_key"
          ? (issue.issues[0]?.message ?? issue.message)
          : issue.message;
    return `${key || "(top level)"}: ${message}`;
  });
  return `${source}: ${lines.join("; ")}`;
}
