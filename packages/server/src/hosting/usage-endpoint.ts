import { parseBasic } from "../auth.js";
import { HttpError } from "../http-error.js";
import { type ReplyContext, sendBody } from "../reply.js";
import { identityOf } from "./policy.js";
import type { HostingState } from "./router.js";
import { STATUS_PAGE_CSP, statusPageHtml } from "./status-page.js";
import { usageReport } from "./usage-report.js";

/**
 * The signed-in user's own usage: `GET /_usage` (JSON) and `GET /_status` (HTML). User names
 * start with a letter or digit (tenant-path.ts, config.ts), so no repository path can be these;
 * any other path, or these with more after them, is the protocol's (and names no repository: 404).
 */
export const USAGE_PATHS: Readonly<Record<string, "json" | "html">> = { "/_usage": "json", "/_status": "html" };

/** What a request to one of USAGE_PATHS asks for; undefined for every other target. */
export function usagePathOf(rawTarget: string): "json" | "html" | undefined {
  // Both start "/_", which no repository's path can: every other request is told so at once.
  if (rawTarget.charCodeAt(1) !== 0x5f) return undefined;
  const q = rawTarget.indexOf("?");
  const path = q < 0 ? rawTarget : rawTarget.slice(0, q);
  return Object.hasOwn(USAGE_PATHS, path) ? USAGE_PATHS[path] : undefined;
}

/**
 * Answers a usage request: any htpasswd login that acts for a user (whatever its role: the
 * figures are no one's data, and a write-only login needs to see how near its quota it is) sees
 * the repositories of that user and nothing else; repositories shared with the user by grant are
 * their owner's (the grantee asks `?cmd=quota` there). No valid login: "unauthorized" (the app's
 * 401 and failed-login log line, as everywhere).
 */
export async function answerUsage(reply: ReplyContext, state: HostingState, kind: "json" | "html"): Promise<true | "unauthorized"> {
  const method = reply.incoming.method;
  if (method !== "GET" && method !== "HEAD") throw new HttpError(405, "Method Not Allowed", { Allow: "GET, HEAD" });
  const given = parseBasic(reply.incoming.headers.authorization);
  const identity = given && (await state.checker.check(given.username, given.password)) ? identityOf(state.config(), given.username) : undefined;
  if (!identity) return "unauthorized";
  const report = await usageReport(state.repositories, identity.user);
  if (kind === "json") {
    sendBody(reply, 200, Buffer.from(`${JSON.stringify(report, null, 2)}\n`, "utf8"), "application/json", { "X-Content-Type-Options": "nosniff" });
    return true;
  }
  sendBody(reply, 200, Buffer.from(statusPageHtml(report), "utf8"), "text/html; charset=utf-8", {
    "Content-Security-Policy": STATUS_PAGE_CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
  });
  return true;
}
