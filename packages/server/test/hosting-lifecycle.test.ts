import { readFileSync, writeFileSync, mkdirSync } from "node:fs";
import { connect } from "node:net";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { ACCEPT, tempDir } from "./helpers.js";
import { type HostingProcess, rawRequest, startHosting, writeHostingConfig, writeHtpasswd } from "./hosting-helpers.js";

const dir = tempDir("borgstore-hosting-lifecycle-");
afterAll(() => dir.remove());

/** The value stored under name `n`: its bytes say which it is, so a partial or mixed one shows. */
function valueNumbered(n: number): Buffer {
  const size = 50_000 + ((n * 7919) % 400_000);
  const value = Buffer.alloc(size, n % 251);
  value.writeUInt32BE(n, 0);
  return value;
}

/** An upload whose body trickles in over ~`ms`: in flight while something else happens. */
function slowUpload(port: number, target: string, login: string, body: Buffer, ms: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, "127.0.0.1");
    let answer = "";
    socket.setEncoding("latin1");
    socket.on("data", (text: string) => {
      answer += text;
    });
    socket.on("error", reject);
    socket.on("close", () => resolve(Number(/^HTTP\/1\.1 (\d{3})/.exec(answer)?.[1] ?? 0)));
    const auth = Buffer.from(login).toString("base64");
    socket.write(
      `POST ${target} HTTP/1.1\r\nHost: h\r\nAccept: ${ACCEPT}\r\nAuthorization: Basic ${auth}\r\nContent-Length: ${body.byteLength}\r\nConnection: close\r\n\r\n`,
    );
    const pieces = 10;
    const step = Math.ceil(body.byteLength / pieces);
    for (let i = 0; i < pieces; i++) setTimeout(() => socket.write(body.subarray(i * step, (i + 1) * step)), (ms / pieces) * (i + 1));
  });
}

function hostFolder(name: string): { folder: string; config: string } {
  const folder = join(dir.path, name);
  mkdirSync(folder);
  writeHtpasswd(join(folder, "htpasswd"), { alice: "apw", bob: "bpw" });
  const config = writeHostingConfig(folder, `file://${folder}/repos/{user}/{repo}`, '[users.alice]\nquota = "1G"');
  return { folder, config };
}

describe("hosting mode lifecycle", () => {
  it("SIGHUP during uploads: uploads in flight finish under the logins they started with, new logins and grants apply, a broken file keeps the one in force", async () => {
    const { folder, config } = hostFolder("reload");
    const server = await startHosting(config);
    try {
      const { port } = server;
      expect((await rawRequest(port, "POST", "/alice/laptop/?cmd=create", { login: "alice:apw" })).status).toBe(200);
      const uploads = Array.from({ length: 8 }, (_, n) => slowUpload(port, `/alice/laptop/data/v${n}`, "alice:apw", valueNumbered(n), 1500));
      await new Promise((resolve) => setTimeout(resolve, 300));
      // alice's password changes, carol arrives, bob is granted alice's laptop read-only.
      writeHtpasswd(join(folder, "htpasswd"), { alice: "new-apw", bob: "bpw", carol: "cpw" });
      writeFileSync(config, `${readFileSync(config, "utf8")}\n[repos."alice/laptop"]\ngrants = { bob = "read-only" }\n`);
      server.child.kill("SIGHUP");
      await new Promise((resolve) => setTimeout(resolve, 400));
      expect(await Promise.all(uploads)).toEqual(Array(8).fill(200));
      for (let n = 0; n < 8; n++) {
        const stored = readFileSync(join(folder, "repos", "alice", "laptop", "data", `v${n}`));
        expect(stored.equals(valueNumbered(n)), `v${n}`).toBe(true);
      }
      expect((await rawRequest(port, "GET", "/alice/laptop/", { login: "alice:apw" })).status).toBe(401);
      expect((await rawRequest(port, "GET", "/alice/laptop/", { login: "alice:new-apw" })).status).toBe(200);
      expect((await rawRequest(port, "GET", "/alice/laptop/", { login: "bob:bpw" })).status).toBe(200);
      expect((await rawRequest(port, "POST", "/carol/home/?cmd=create", { login: "carol:cpw" })).status).toBe(200);
      // A broken configuration on the next SIGHUP: logged, the one in force stays.
      writeFileSync(config, `${readFileSync(config, "utf8")}\n[users.bob]\nquota = "lots"\n`);
      server.child.kill("SIGHUP");
      await new Promise((resolve) => setTimeout(resolve, 400));
      expect(server.stderr()).toMatch(/config: .*users\.bob\.quota: not a size.*the configuration in force stays/);
      expect((await rawRequest(port, "GET", "/alice/laptop/", { login: "bob:bpw" })).status).toBe(200);
    } finally {
      expect(await server.stop()).toBe(0);
    }
  }, 30_000);

  it("SIGKILL during uploads, then restart: nothing acknowledged is lost, nothing partial is visible, the usage figure is right", async () => {
    const { config } = hostFolder("crash");
    let server: HostingProcess = await startHosting(config);
    const acknowledged = new Set<number>();
    let next = 0;
    const { port } = server;
    expect((await rawRequest(port, "POST", "/alice/laptop/?cmd=create", { login: "alice:apw" })).status).toBe(200);
    let killed = false;
    const client = async () => {
      while (!killed) {
        const n = next++;
        const answer = await rawRequest(port, "POST", `/alice/laptop/data/v${n}`, { login: "alice:apw", body: valueNumbered(n) }).catch(() => undefined);
        if (answer?.status === 200) acknowledged.add(n);
      }
    };
    const clients = Array.from({ length: 8 }, () => client());
    await new Promise((resolve) => setTimeout(resolve, 800));
    server.child.kill("SIGKILL");
    killed = true;
    await server.exited;
    await Promise.all(clients);
    expect(acknowledged.size).toBeGreaterThan(0);

    server = await startHosting(config);
    try {
      const listed = JSON.parse((await rawRequest(server.port, "GET", "/alice/laptop/data/", { login: "alice:apw" })).body) as Array<{
        name: string;
        size: number;
      }>;
      const names = new Set(listed.map((item) => item.name));
      for (const n of acknowledged) expect(names.has(`v${n}`), `acknowledged v${n}`).toBe(true);
      let bytes = 0;
      for (const item of listed) {
        const n = Number(item.name.slice(1));
        const loaded = await rawRequest(server.port, "GET", `/alice/laptop/data/${item.name}`, { login: "alice:apw" });
        expect(loaded.bytes.equals(valueNumbered(n)), `${item.name} whole and its own`).toBe(true);
        expect(item.size, item.name).toBe(valueNumbered(n).byteLength);
        bytes += item.size;
      }
      const quota = JSON.parse((await rawRequest(server.port, "POST", "/alice/laptop/?cmd=quota", { login: "alice:apw" })).body);
      expect(quota).toEqual({ limit: 1024 ** 3, usage: bytes });
    } finally {
      expect(await server.stop()).toBe(0);
    }
  }, 30_000);
});
