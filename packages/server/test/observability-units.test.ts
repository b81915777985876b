import { IncomingMessage } from "node:http";
import { Socket } from "node:net";
import { MemoryBackend } from "@borgstore/core";
import { describe, expect, it } from "vitest";
import { BackendHost } from "../src/backend-host.js";
import { backendHealth } from "../src/observability/health.js";
import { auditedNames, operationOf } from "../src/observability/operation.js";
import { labelRequest, labelledTarget, noteAuditEvent, notedAuditEvents } from "../src/observability/request-labels.js";
import { parseRequestTarget } from "../src/request-target.js";

// The observability modules on their own: operation.ts's fixed labels, the audit line's names, the
// request's audit notes and /healthz's answers, which the server tests see only through a few requests.

function request(method: string, url: string): IncomingMessage {
  const req = new IncomingMessage(new Socket());
  req.method = method;
  req.url = url;
  return req;
}

describe("observability units", () => {
  it("names each request's operation from its method, path and cmd, and anything else 'other'", () => {
    const cases: Array<[string, string, string]> = [
      ["GET", "/data/k", "load"],
      ["GET", "/data/", "list"],
      ["GET", "/data/?x=1", "list"],
      ["GET", "/data/k?x=/", "load"],
      ["HEAD", "/data/k", "info"],
      ["POST", "/data/k", "store"],
      ["POST", "/?cmd=create", "create"],
      ["POST", "/?cmd=defrag", "defrag"],
      ["POST", "/?cmd=bogus", "other"],
      ["DELETE", "/data/k", "delete"],
      ["DELETE", "/data/?cmd=rmdir", "rmdir"],
      ["DELETE", "/?cmd=destroy", "destroy"],
      ["DELETE", "/data/k?cmd=bogus", "other"],
      // No "?": nothing in the path is a query, even text that reads like one.
      ["DELETE", "/data/k&cmd=rmdir", "delete"],
      ["PUT", "/data/k", "other"],
      ["OPTIONS", "/", "other"],
    ];
    for (const [method, url, operation] of cases) expect(`${method} ${url} ${operationOf(request(method, url))}`).toBe(`${method} ${url} ${operation}`);
  });

  it("an audit line names the item, a move's two names, nothing for the root or a target that is not origin-form", () => {
    expect(auditedNames(request("GET", "/data/k?x=1"), "load")).toEqual({ name: "data/k" });
    expect(auditedNames(request("GET", "/"), "list")).toEqual({});
    expect(auditedNames(request("POST", "/?cmd=move&current=a/b&new=c/d"), "move")).toEqual({ name: "a/b", to: "c/d" });
    expect(auditedNames(request("GET", "http://user:pw@host/data/k"), "load")).toEqual({});
    // A hosting request: the routed target below the repository's root, not the request's own.
    expect(auditedNames(request("GET", "/alice/laptop/data/k"), "load", parseRequestTarget("/data/k"))).toEqual({ name: "data/k" });
  });

  it("keeps every audit event noted for a request, in order, and the routed target given with its labels", () => {
    const req = request("DELETE", "/alice/laptop/data/k");
    expect(notedAuditEvents(req)).toEqual([]);
    noteAuditEvent(req, "delete");
    noteAuditEvent(req, "overwrite");
    expect(notedAuditEvents(req)).toEqual(["delete", "overwrite"]);
    const target = parseRequestTarget("/data/k");
    labelRequest(req, { user: "alice", repo: "laptop" }, target);
    expect(labelledTarget(req)).toBe(target);
    expect(labelledTarget(request("GET", "/"))).toBeUndefined();
  });

  it("is healthy with the backend open or openable, not while shutting down or when the store cannot be opened", async () => {
    const created = new MemoryBackend();
    await created.create();
    const host = new BackendHost(created);
    expect(await backendHealth(host, () => true)).toEqual({ ok: false, reason: "shutting down" });
    expect(await backendHealth(host, () => false)).toEqual({ ok: true });
    await host.use(async () => undefined);
    expect(host.backend.opened).toBe(true);
    expect(await backendHealth(host, () => false)).toEqual({ ok: true });
    const never = new BackendHost(new MemoryBackend());
    const health = await backendHealth(never, () => false);
    expect(health.ok).toBe(false);
    expect(health.reason).toMatch(/^backend cannot be opened: \w+/);
  });
});
