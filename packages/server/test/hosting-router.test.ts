import { EventEmitter } from "node:events";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import type { ReplyContext } from "../src/reply.js";
import { loadHostingConfig } from "../src/hosting/config.js";
import { DeleteGraceService } from "../src/hosting/delete-grace.js";
import { DiscoveredRepositories } from "../src/hosting/discovered-repositories.js";
import { FairShare } from "../src/hosting/fair-share.js";
import { HtpasswdFile } from "../src/hosting/htpasswd.js";
import { Repositories } from "../src/hosting/repositories.js";
import { HostingRouter } from "../src/hosting/router.js";
import { usagePathOf } from "../src/hosting/usage-endpoint.js";
import { UsageRecords } from "../src/hosting/usage-records.js";
import { connectionOf } from "../src/request-signal.js";
import { writeHostingConfig, writeHtpasswd } from "./hosting-helpers.js";

// HostingRouter on its own (real configuration, htpasswd, repositories on posixfs; no HTTP): what a
// routed request holds (its user's fair-share slot, its upload's quota reservation) and when it
// gives them back, on the path that routes without a promise and on the one that waits.

const folders: string[] = [];
const closers: Array<() => Promise<void> | void> = [];

afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
  for (const folder of folders.splice(0)) rmSync(folder, { recursive: true, force: true });
});

const LOGIN = `Basic ${Buffer.from("alice:apw").toString("base64")}`;

async function router(): Promise<{ router: HostingRouter; fairShare: FairShare; repositories: Repositories }> {
  const dir = mkdtempSync(join(tmpdir(), "hosting-router-"));
  folders.push(dir);
  writeHtpasswd(join(dir, "htpasswd"), { alice: "apw" });
  const path = writeHostingConfig(dir, `file://${dir}/repos/{user}/{repo}`);
  const config = await loadHostingConfig(path);
  const htpasswd = await HtpasswdFile.open(config.htpasswd, { onReload() {} });
  const repositories = new Repositories(() => config, new DiscoveredRepositories(new UsageRecords(config.stateDir), () => config.repositories.backend), {
    grace: new DeleteGraceService(() => config),
  });
  const fairShare = new FairShare();
  const routing = new HostingRouter({ config: () => config, checker: htpasswd.checker, repositories, fairShare });
  closers.push(
    () => htpasswd.checker.close(),
    () => routing.close(),
  );
  return { router: routing, fairShare, repositories };
}

/** A response still being sent (no finish yet), on a connection of its own. */
function pendingResponse(): EventEmitter & { writableFinished: boolean; destroyed: boolean; req: { socket: EventEmitter & { destroyed: boolean } } } {
  const socket = Object.assign(new EventEmitter(), { destroyed: false });
  return Object.assign(new EventEmitter(), { writableFinished: false, destroyed: false, req: { socket } });
}

function reply(method: string, url: string, outgoing: object, body = 1024): ReplyContext {
  return {
    incoming: { method, url, headers: { authorization: LOGIN, "content-length": String(body) } },
    outgoing,
    signal: new AbortController().signal,
  } as unknown as ReplyContext;
}

describe("hosting router", () => {
  it("routes a request to an open repository at once, holding its user's slot and its upload's reservation until its answer is out", async () => {
    const { router: routing, fairShare, repositories } = await router();
    const created = await routing.route(reply("POST", "/alice/repo/?cmd=create", { writableFinished: true, destroyed: false }));
    await created?.host.alone((b) => b.create());
    created?.done?.();
    expect(fairShare.running("alice").now).toBe(0);

    const outgoing = pendingResponse();
    const routed = routing.route(reply("POST", "/alice/repo/data/x", outgoing));
    // No promise: a request that waits for nothing takes no turn of the event loop.
    expect(routed).not.toBeInstanceOf(Promise);
    if (routed instanceof Promise || routed === undefined) throw new Error("not routed at once");
    const { repository, release } = (await repositories.use("alice", "repo")) as Awaited<ReturnType<Repositories["use"]>>;
    release();
    expect(repository.store.usage.reserved).toBe(1024);
    expect(fairShare.running("alice").now).toBe(1);
    routed.done?.();
    // The reservation goes with the request; the slot once its answer has been handed on.
    expect(repository.store.usage.reserved).toBe(0);
    expect(fairShare.running("alice").now).toBe(1);
    outgoing.writableFinished = true;
    outgoing.emit("finish");
    expect(fairShare.running("alice").now).toBe(0);
    // Its connection closing later gives nothing back twice.
    outgoing.req.socket.destroyed = true;
    connectionOf(outgoing.req.socket as never).abort(new Error("closed"));
    expect(fairShare.running("alice").now).toBe(0);
  });

  it("gives the slot back when the connection goes before the answer is out, and after a request to a repository that does not exist", async () => {
    const { router: routing, fairShare } = await router();
    const created = await routing.route(reply("POST", "/alice/repo/?cmd=create", { writableFinished: true, destroyed: false }));
    await created?.host.alone((b) => b.create());
    created?.done?.();

    const outgoing = pendingResponse();
    const routed = await routing.route(reply("GET", "/alice/repo/data/x", outgoing));
    routed?.done?.();
    expect(fairShare.running("alice").now).toBe(1);
    connectionOf(outgoing.req.socket as never).abort(new Error("the client left"));
    expect(fairShare.running("alice").now).toBe(0);

    // A repository never created: routed after opening it (the operation answers 410), given back once done.
    const missing = await routing.route(reply("GET", "/alice/never/data/x", { writableFinished: true, destroyed: false }));
    expect(fairShare.running("alice").now).toBe(1);
    missing?.done?.();
    expect(fairShare.running("alice").now).toBe(0);
  });

  it("leaves every path but /_usage and /_status (with or without a query) to the protocol", () => {
    expect(["/_usage", "/_usage?x=1", "/_status", "/_status?"].map(usagePathOf)).toEqual(["json", "json", "html", "html"]);
    for (const other of ["/", "", "/_", "/_usage/", "/_Usage", "/x/_usage", "//_usage", "_usage", "/_statuses", "/alice/_usage", "/_usagex?"])
      expect(usagePathOf(other), other).toBeUndefined();
  });
});
