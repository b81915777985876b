import { checkPermission, type Permissions } from "@borgstore/core";
import type { RoutedRequest, StoreRouter } from "../app.js";
import { HttpError } from "../http-error.js";
import { type RequestLabels, labelRequest, noteAuditEvent } from "../observability/request-labels.js";
import { type ReplyContext, sendBody } from "../reply.js";
import { whenResponseDone } from "../request-signal.js";
import { queryValue } from "../request-target.js";
import type { HostingConfig } from "./config.js";
import type { Admission, FairShare } from "./fair-share.js";
import type { PasswordChecker } from "./htpasswd.js";
import { PermissionView } from "./permission-view.js";
import type { Repositories, RepositoryUse } from "./repositories.js";
import { type Access, RouteTable } from "./route-table.js";
import { type TenantTarget, parseTenantTarget } from "./tenant-path.js";
import { answerUsage, usagePathOf } from "./usage-endpoint.js";
import { ViewHost } from "./view-host.js";

/** What the router reads at each request: reloads swap these, requests in flight keep theirs. */
export interface HostingState {
  config(): HostingConfig;
  readonly checker: PasswordChecker;
  readonly repositories: Repositories;
  readonly fairShare: FairShare;
}

/** The repository label of a request to a repository that does not exist (or not yet). */
export const NO_REPOSITORY = "-";

/** POST commands that are not a store (operations.ts's dispatch). */
const POST_COMMANDS = new Set(["create", "move", "mkdir", "hash", "quota", "defrag"]);

/**
 * The hosting mode's routing: a login from the htpasswd file, its identity and role (policy.ts),
 * the repository the path names, and what the login may do there. A repository the login may not
 * see answers 404 as one that is not configured (its name is not confirmed); an upload reserves
 * its Content-Length against the repository's and the user's quota before its body is read.
 */
export class HostingRouter implements StoreRouter {
  readonly #state: HostingState;
  #routes: RouteTable | undefined;

  constructor(state: HostingState) {
    this.#state = state;
  }

  route(reply: ReplyContext): RoutedRequest | undefined | Promise<RoutedRequest | undefined> {
    // A client's next request finds its login, identity, access and open repository without a
    // wait, and is routed without a promise: each step below returns one only when it must wait
    // (a password to check, a turn to wait for, a repository to open: each a slow path of its own).
    const signingIn = this.#state.checker.signIn(reply.incoming.headers.authorization);
    if (signingIn instanceof Promise) return signingIn.then((login) => this.#routeLogin(reply, login));
    return this.#routeLogin(reply, signingIn);
  }

  #routeLogin(reply: ReplyContext, login: string | undefined): RoutedRequest | undefined | Promise<RoutedRequest> {
    if (login === undefined) return undefined;
    const table = this.#table();
    const signedIn = table.signedIn(login);
    if (!signedIn) return undefined;
    const { identity } = signedIn;
    const tenant = parseTenantTarget(reply.incoming.url ?? "/");
    const access = tenant ? table.access(signedIn, tenant.key, tenant.user, tenant.repo) : undefined;
    const permissions = access ? access.permissions : "denied";
    // Counted under a repository only once it is known to exist (names that passed parseTenantTarget
    // only): a login trying names does not make a metric series per name.
    const labels: RequestLabels = { user: identity.user, repo: NO_REPOSITORY };
    const found = tenant !== undefined && permissions !== "denied";
    labelRequest(reply.incoming, labels, found ? tenant.target : undefined);
    if (!found || access === undefined) throw new HttpError(404, "Not Found");
    const method = reply.incoming.method;
    const cmd = tenant.target.query.size === 0 ? undefined : queryValue(tenant.target.query, "cmd");
    if (method === "POST" && cmd === "create" && !table.config.repositories.autoCreate)
      throw new HttpError(403, "Forbidden: repositories are created by the operator on this server");
    const request: AdmittedRequest = { reply, login, tenant, access, permissions, labels, isStore: method === "POST" && (cmd === undefined || !POST_COMMANDS.has(cmd)) && tenant.target.name !== "" };
    // The user's turn (fair-share.ts): held until the answer is out, its bodies at the user's pace.
    const admitting = this.#state.fairShare.admit(identity.user, signedIn.fairShare, reply.signal);
    if (admitting instanceof Promise) return admitting.then((turn) => this.#routeInTurn(request, turn));
    return this.#routeInTurn(request, admitting);
  }

  #routeInTurn(request: AdmittedRequest, turn: Admission): RoutedRequest | Promise<RoutedRequest> {
    request.reply.pace = turn.pace;
    const { user, repo } = request.tenant;
    const open = this.#state.repositories.useIfOpen(user, repo);
    if (open) return this.#routed(request, turn, open);
    return this.#state.repositories.use(user, repo).then(
      (use) => this.#routed(request, turn, use),
      (err: unknown) => {
        turn.release();
        throw err;
      },
    );
  }

  #routed({ reply, login, tenant, access, permissions, labels, isStore }: AdmittedRequest, turn: Admission, use: RepositoryUse): RoutedRequest {
    const { repository, release } = use;
    if (repository.known) labels.repo = access.label;
    let giveBack: (() => void) | undefined;
    try {
      // A store the login may not make is refused by the operation (403), not by the quota.
      if (isStore && mayStore(permissions, tenant.target.name)) giveBack = repository.store.usage.reserve(announcedLength(reply), access.limits);
    } catch (err) {
      release();
      turn.release();
      throw err;
    }
    const done = () => {
      // A create made it known, a destroy unknown.
      labels.repo = repository.known ? access.label : NO_REPOSITORY;
      giveBack?.();
      release();
      whenResponseDone(reply.outgoing, turn.release);
    };
    const view = new PermissionView(repository.store, permissions, () => noteAuditEvent(reply.incoming, "overwrite"));
    // Error messages name the store's location (a path, a bucket): answers show "[STORAGE_BASE]" instead.
    return { host: new ViewHost(repository.host, view), target: tenant.target, user: login, location: repository.location, done };
  }

  /** The route table of the configuration in force (a reload's new configuration gets a new one). */
  #table(): RouteTable {
    const config = this.#state.config();
    if (this.#routes?.config !== config) this.#routes = new RouteTable(config);
    return this.#routes;
  }

  close(): Promise<void> {
    return this.#state.repositories.close();
  }

  /**
   * `GET /healthz` (and HEAD): 200 "ok" without credentials or Accept, for load balancers and
   * monitors; `/_usage` and `/_status` (usage-endpoint.ts): the user's own usage, without Accept.
   */
  answerOwn(reply: ReplyContext): boolean | Promise<true | "unauthorized"> {
    const { method, url } = reply.incoming;
    const usage = usagePathOf(url ?? "/");
    if (usage) return answerUsage(reply, this.#state, usage);
    if (url !== "/healthz" || (method !== "GET" && method !== "HEAD")) return false;
    sendBody(reply, 200, "ok\n", "text/plain");
    return true;
  }
}

/** A request past its routing checks, on its way to its user's turn and its repository. */
interface AdmittedRequest {
  readonly reply: ReplyContext;
  readonly login: string;
  readonly tenant: TenantTarget;
  readonly access: Access;
  readonly permissions: Permissions | undefined;
  readonly labels: RequestLabels;
  readonly isStore: boolean;
}

function mayStore(permissions: Permissions | undefined, name: string): boolean {
  try {
    checkPermission(permissions, name, "wW");
    return true;
  } catch {
    return false;
  }
}

/** Content-Length as the store will read it; unusable ones reserve nothing (the store refuses them). */
function announcedLength(reply: ReplyContext): number {
  const length = Number(reply.incoming.headers["content-length"] ?? 0);
  return Number.isSafeInteger(length) && length >= 0 ? length : 0;
}
