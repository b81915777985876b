import { IncomingMessage } from "node:http";
import { Socket } from "node:net";
import { Writable } from "node:stream";
import { MemoryBackend } from "@borgstore/core";
import { describe, expect, it } from "vitest";
import { BackendHost } from "../src/backend-host.js";
import { Logger } from "../src/logger.js";
import { backendHealth } from "../src/observability/health.js";
import { ServerMetrics } from "../src/observability/metrics.js";
import { auditedNames, operationOf } from "../src/observability/operation.js";
import { labelRequest, labelledTarget, noteAuditEvent, notedAuditEvents } from "../src/observability/request-labels.js";
import { RequestObserver, originForm } from "../src/observability/request-observer.js";
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

  it("logs a refused request as an access line at info, and nothing above info", () => {
    for (const [level, expected] of [
      ["info", 1],
      ["warning", 0],
    ] as const) {
      const written: string[] = [];
      const out = new Writable({
        write(chunk: Buffer, _encoding, done) {
          written.push(...chunk.toString().split("\n").filter(Boolean));
          done();
        },
      });
      const logger = new Logger(level, out, "json");
      new RequestObserver({ logger }).refused("10.0.0.7", 400, "Bad Request");
      logger.flush();
      expect(written).toHaveLength(expected);
      if (expected === 1) {
        expect(JSON.parse(written[0] ?? "")).toMatchObject({ log: "access", peer: "10.0.0.7", user: "-", op: "unreadable", method: null, status: 400, reason: "Bad Request" });
      }
    }
  });

  it("logs a target in origin form: an absolute one loses its scheme and authority (credentials too)", () => {
    expect(originForm(undefined)).toBe("/");
    expect(originForm("/data/k?cmd=x")).toBe("/data/k?cmd=x");
    expect(originForm("http://user:secret@example.org")).toBe("/");
    expect(originForm("http://user:secret@example.org/data/k?x=1")).toBe("/data/k?x=1");
    expect(originForm("*")).toBe("<non-origin target>");
  });

  it("counts requests that failed on the server's side or lost their connection, by user, repository, operation and kind", async () => {
    const metrics = new ServerMetrics({ processMetrics: false });
    const record = { user: "alice", repo: "alice/laptop", operation: "load" as const, bytesIn: 0, bytesOut: 0, durationSeconds: 0.01 };
    metrics.observe({ ...record, status: 500 });
    metrics.observe({ ...record, status: 503 });
    metrics.observe({ ...record, status: undefined });
    metrics.observe({ ...record, status: 404 });
    const text = await metrics.render();
    expect(text).toContain('borgstore_request_errors_total{user="alice",repo="alice/laptop",operation="load",kind="server"} 2');
    expect(text).toContain('borgstore_request_errors_total{user="alice",repo="alice/laptop",operation="load",kind="aborted"} 1');
    // No body sent or received: no byte series at all, not one at 0.
    expect(text).not.toMatch(/^borgstore_(sent|received)_bytes_total\{/m);
  });
});
