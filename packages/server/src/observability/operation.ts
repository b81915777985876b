import type { IncomingMessage } from "node:http";
import { type RequestTarget, parseRequestTarget, queryValue } from "../request-target.js";

/**
 * What a request does, as one of a fixed set of words: a metric label never takes a name or a
 * path from the request (unbounded series), only one of these.
 */
export const OPERATIONS = [
  "load",
  "list",
  "info",
  "store",
  "delete",
  "move",
  "mkdir",
  "rmdir",
  "create",
  "destroy",
  "hash",
  "quota",
  "defrag",
  "other",
] as const;
/** One of OPERATIONS. */
export type OperationName = (typeof OPERATIONS)[number];

const POST_COMMANDS: ReadonlySet<string> = new Set(["create", "move", "mkdir", "hash", "quota", "defrag"]);

/** The operation of a request, from its method, path and `cmd` (the dispatch of docs/rest-protocol.md#dispatch). */
export function operationOf(req: IncomingMessage): OperationName {
  const url = req.url ?? "/";
  const q = url.indexOf("?");
  const path = q < 0 ? url : url.slice(0, q);
  // Most requests carry no query: no parsing for them.
  const cmd = q < 0 ? undefined : queryValue(new URLSearchParams(url.slice(q + 1)), "cmd");
  switch (req.method) {
    case "GET":
      return path.endsWith("/") ? "list" : "load";
    case "HEAD":
      return "info";
    case "POST":
      if (cmd !== undefined) return POST_COMMANDS.has(cmd) ? (cmd as OperationName) : "other";
      return "store";
    case "DELETE":
      if (cmd === "rmdir" || cmd === "destroy") return cmd;
      return cmd === undefined ? "delete" : "other";
    default:
      return "other";
  }
}

/**
 * What an audit line names: the item, and for a move its new name. Never the query or the URL's
 * authority. `routed`: the target below a hosting repository's root (labelRequest's).
 */
export function auditedNames(req: IncomingMessage, operation: OperationName, routed?: RequestTarget): { name?: string; to?: string } {
  const target = routed ?? originTarget(req);
  if (!target) return {};
  if (operation === "move")
    return { name: queryValue(target.query, "current"), to: queryValue(target.query, "new") };
  return target.name === "" ? {} : { name: target.name };
}

function originTarget(req: IncomingMessage): RequestTarget | undefined {
  try {
    // Only an origin-form target ("/…") parses: an absolute one (http://user:pw@host/…) is refused.
    return parseRequestTarget(req.url ?? "");
  } catch {
    return undefined;
  }
}
