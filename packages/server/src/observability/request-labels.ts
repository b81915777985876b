import type { IncomingMessage } from "node:http";
import { authenticatedUser } from "../app.js";
import type { RequestTarget } from "../request-target.js";

/** Whom and which repository a request's metrics and log lines are counted for. */
export interface RequestLabels {
  /** The authenticated login's user, or "-" (no auth, or a failed login). */
  user: string;
  /** The repository ("" for the single store of the reference's mode). */
  repo: string;
}

const labelled = new WeakMap<IncomingMessage, { labels: RequestLabels; target: RequestTarget | undefined }>();

/**
 * Labels `req` for metrics, the access log and the audit log. The hosting mode calls it once it
 * has authenticated the request, with names from its configuration only (never text from the
 * request: each distinct pair is a metric series). The labels are read when the request ends: the
 * caller may change the object until then (the hosting mode names the repository once it is known
 * to exist), one WeakMap entry per request. Unlabelled requests count as the single store's: the
 * login the app checked, repo "".
 */
export function labelRequest(req: IncomingMessage, requestLabels: RequestLabels, target?: RequestTarget): void {
  // The hosting mode's target is below the repository's root: the audit line names the item in it.
  labelled.set(req, { labels: requestLabels, target });
}

/** The target given to labelRequest (undefined: the audit line parses the request's own). */
export function labelledTarget(req: IncomingMessage): RequestTarget | undefined {
  return labelled.get(req)?.target;
}

/** The labels of `req` (see labelRequest). */
export function requestLabels(req: IncomingMessage): RequestLabels {
  return labelled.get(req)?.labels ?? { user: authenticatedUser(req) ?? "-", repo: "" };
}

/** Events the audit log records beside those it sees in the requests themselves (deletes, denials). */
export type AuditEvent = "overwrite" | "delete" | "permission-denied" | "quota-denied";

const notes = new WeakMap<IncomingMessage, AuditEvent[]>();

/**
 * Adds an audit event to `req`'s audit line, for what only the code that handles it knows (an
 * overwrite found by an append-only check, a delete kept in grace). Written when the request ends,
 * with its labels and status.
 */
export function noteAuditEvent(req: IncomingMessage, event: AuditEvent): void {
  const list = notes.get(req);
  if (list) list.push(event);
  else notes.set(req, [event]);
}

/** The events noted for `req` (see noteAuditEvent). */
export function notedAuditEvents(req: IncomingMessage): readonly AuditEvent[] {
  return notes.get(req) ?? [];
}
