import { execFileSync } from "node:child_process";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { tempDir } from "./helpers.js";
import { listenHosting, rawRequest, writeHostingConfig, writeHtpasswd } from "./hosting-helpers.js";

const dir = tempDir("borgstore-hosting-bcrypt-");
afterAll(() => dir.remove());


describe("hosting: bcrypt off the event loop", () => {
  it("while 8 connections send wrong passwords for a cost-11 login, a signed-in client's requests stay fast; wrong passwords fail and right ones succeed", async () => {
    const folder = join(dir.path, "flood");
    mkdirSync(folder);
    writeHtpasswd(join(folder, "htpasswd"), { alice: "apw" });
    execFileSync("htpasswd", ["-bB", "-C", "11", join(folder, "htpasswd"), "slow", "spw"], { stdio: "ignore" });
    const { hosting, port } = await listenHosting(writeHostingConfig(folder, `file://${folder}/repos/{user}/{repo}`));
    try {
      expect((await rawRequest(port, "POST", "/alice/r/?cmd=create", { login: "alice:apw" })).status).toBe(200);
      expect((await rawRequest(port, "POST", "/alice/r/data/x", { login: "alice:apw", body: Buffer.from("x") })).status).toBe(200);
      let flooding = true;
      let refused = 0;
      const flood = Array.from({ length: 8 }, async () => {
        while (flooding) {
          const answer = await rawRequest(port, "GET", "/slow/r/data/x", { login: "slow:wrong" });
          expect(answer.status).toBe(401);
          refused++;
        }
      });
      // Let the flood fill the queue of comparisons first.
      await new Promise((resolve) => setTimeout(resolve, 300));
      const latencies: number[] = [];
      for (let i = 0; i < 30; i++) {
        const started = performance.now();
        expect((await rawRequest(port, "GET", "/alice/r/data/x", { login: "alice:apw" })).status).toBe(200);
        latencies.push(performance.now() - started);
      }
      flooding = false;
      await Promise.all(flood);
      latencies.sort((a, b) => a - b);
      const p50 = latencies[Math.floor(latencies.length / 2)] as number;
      expect(refused).toBeGreaterThan(0);
      console.log(`signed-in client during the flood: p50 ${p50.toFixed(1)} ms, max ${latencies.at(-1)?.toFixed(1)} ms; ${refused} wrong passwords refused`);
      expect(p50).toBeLessThan(100);
      expect((await rawRequest(port, "POST", "/slow/s/?cmd=create", { login: "slow:spw" })).status).toBe(200);
      expect((await rawRequest(port, "GET", "/slow/s/data/x", { login: "slow:spx" })).status).toBe(401);
      expect((await rawRequest(port, "GET", "/alice/r/data/x", { login: "nobody:apw" })).status).toBe(401);
    } finally {
      await hosting.shutdown();
    }
  }, 60_000);
});
