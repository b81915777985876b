import type { IncomingMessage, ServerResponse } from "node:http";
import { type Logger, logTime } from "../logger.js";
import { announcedLength } from "../reply.js";
import type { RequestRecord, ServerMetrics } from "./metrics.js";
import { type OperationName, auditedNames, operationOf } from "./operation.js";
import { type AuditEvent, labelledTarget, notedAuditEvents, requestLabels } from "./request-labels.js";

/** Options of `new RequestObserver(...)`. */
export interface RequestObserverOptions {
  /** The access log (level info); also the audit log unless `audit` is given. */
  logger: Logger;
  /** Where audit lines go, if not to `logger`. */
  audit?: Logger;
  /** Counted per request when given. */
  metrics?: ServerMetrics;
}

/** Audit events a request implies by itself, from its operation and status. */
function impliedAuditEvents(operation: OperationName, status: number | undefined): readonly AuditEvent[] {
  if (status === 403) return ["permission-denied"];
  if (status === 507) return ["quota-denied"];
  if (status !== undefined && status < 300 && (operation === "delete" || operation === "destroy")) return ["delete"];
  return NONE;
}

const NONE: readonly AuditEvent[] = [];

/**
 * Sees every request end (RestServer calls `finished` from its response's 'close'), and from it
 * counts the metrics and writes the access line and any audit line. Nothing here reads the
 * Authorization header or writes the request target raw: a log line holds the labels, the
 * operation, sizes and times, and (audit only) the item's name as the protocol parsed it.
 */
export class RequestObserver {
  readonly #logger: Logger;
  readonly #audit: Logger;
  readonly #metrics: ServerMetrics | undefined;

  constructor(options: RequestObserverOptions) {
    this.#logger = options.logger;
    this.#audit = options.audit ?? options.logger;
    this.#metrics = options.metrics;
  }

  /** `startedAt`: performance.now() when the request arrived. */
  finished(peer: string, req: IncomingMessage, res: ServerResponse, startedAt: number): void {
    const access = this.#logger.enabled("info");
    // Audit lines are written at level info: a logger above it drops them, so they are not made.
    const audit = this.#audit.enabled("info");
    if (!this.#metrics && !access && !audit) return;
    const noted = audit ? notedAuditEvents(req) : NONE;
    const status = res.headersSent ? res.statusCode : undefined;
    // Cheapest path first: with neither metrics nor an access log only a denial or a delete needs work.
    if (!this.#metrics && !access && noted.length === 0 && status !== 403 && status !== 507 && req.method !== "DELETE") return;
    const operation = operationOf(req);
    const { user, repo } = requestLabels(req);
    const record: RequestRecord = {
      user,
      repo,
      operation,
      status,
      bytesIn: req.complete ? contentLength(req.headers["content-length"]) : 0,
      bytesOut: res.writableFinished && req.method !== "HEAD" ? (announcedLength(res) ?? contentLength(res.getHeader("content-length"))) : 0,
      durationSeconds: (performance.now() - startedAt) / 1000,
    };
    this.#metrics?.observe(record);
    if (access) this.#accessLine(peer, req, record);
    if (!audit) return;
    const implied = impliedAuditEvents(operation, status);
    if (noted.length > 0 || implied.length > 0) this.#auditLine(peer, req, record, [...noted, ...implied]);
  }

  /**
   * A request Node's parser refused (or a CONNECT), answered without an IncomingMessage: an access
   * line with its status and reason phrase. Its bytes are not logged: they are what the parser
   * could not read, and may hold anything (credentials in an absolute-form target, control bytes).
   */
  refused(peer: string, status: number, reason: string): void {
    if (!this.#logger.enabled("info")) return;
    const fields = () => ({ log: "access", peer, user: "-", op: "unreadable", method: null, status, reason, bytes_in: 0, bytes_out: 0 });
    this.#logger.record("info", "request", fields, () => `${peer} - - [${logTime()}] "<refused>" ${status} - (${reason})`);
  }

  #accessLine(peer: string, req: IncomingMessage, r: RequestRecord): void {
    const fields = () => ({
      log: "access",
      peer,
      user: r.user,
      repo: r.repo,
      op: r.operation,
      method: req.method,
      status: r.status ?? null,
      bytes_in: r.bytesIn,
      bytes_out: r.bytesOut,
      duration_ms: Math.round(r.durationSeconds * 1e6) / 1e3,
    });
    // The text line is the reference's (Python's http.server), the target without any authority.
    this.#logger.record("info", "request", fields, () => {
      const status = r.status === undefined ? "-" : String(r.status);
      return `${peer} - ${r.user} [${logTime()}] "${req.method} ${originForm(req.url)} HTTP/${req.httpVersion}" ${status} -`;
    });
  }

  #auditLine(peer: string, req: IncomingMessage, r: RequestRecord, events: readonly AuditEvent[]): void {
    const names = auditedNames(req, r.operation, labelledTarget(req));
    for (const event of new Set(events)) {
      const fields = { log: "audit", event, peer, user: r.user, repo: r.repo, op: r.operation, status: r.status ?? null, ...names };
      this.#audit.record("info", "audit", fields, () => {
        const what = names.to !== undefined ? `${names.name} -> ${names.to}` : (names.name ?? "");
        return `audit: ${event} ${r.operation} ${JSON.stringify(what)} user=${r.user} repo=${JSON.stringify(r.repo)} status=${r.status ?? "-"} from ${peer}`;
      });
    }
  }
}

function contentLength(value: number | string | string[] | undefined): number {
  const n = Number(value);
  return Number.isSafeInteger(n) && n > 0 ? n : 0;
}

/**
 * The request target as the access log may show it: an absolute-form target
 * (`GET http://user:password@host/path`) loses its scheme and authority.
 */
export function originForm(url: string | undefined): string {
  if (!url) return "/";
  if (url.startsWith("/")) return url;
  const m = /^[a-zA-Z][a-zA-Z0-9+.-]*:\/\/[^/?#]*(.*)$/.exec(url);
  return m ? m[1] || "/" : "<non-origin target>";
}
