import type { IncomingMessage } from "node:http";
import { parseRequestTarget, queryValue } from "../request-target.js";

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

/** What an audit line names: the item, and for a move its new name. Never the query or the URL's authority. */
export function auditedNames(req: IncomingMessage, operation: OperationName): { name?: string; to?: string } {
  let target: ReturnType<typeof parseRequestTarget>;
  try {
    // Only an origin-form target ("/…") parses: an absolute one (http://user:pw@host/…) is refused.
    target = parseRequestTarget(req.url ?? "");
  } catch {
    return {};
  }
  if (operation === "move")
    return { name: queryValue(target.query, "current"), to: queryValue(target.query, "new") };
  return target.name === "" ? {} : { name: target.name };
}
