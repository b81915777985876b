
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import puppeteer, { type Browser, type Page } from "puppeteer-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { findRealTool } from "./real-tools.js";
import type { HostingServer } from "../src/hosting/hosting-server.js";
import { STATUS_PAGE_CSP, statusPageHtml } from "../src/hosting/status-page.js";
import { tempDir } from "./helpers.js";
import { listenHosting, rawRequest, writeHostingConfig, writeHtpasswd } from "./hosting-helpers.js";

/**
 * Issue 16: a user's status page (`GET /_status`), in Debian's chromium driven by puppeteer-core:
 * signed in with HTTP Basic credentials as a browser sends them, it shows the user's repositories
 * and figures and nothing of another user's; its own inline style passes its Content-Security-Policy.
 */

const chromium = findRealTool([process.env.CHROMIUM_BIN, "/usr/bin/chromium"], ["--version"], "Debian's chromium is not installed (bash scripts/install-test-servers.sh): the status page's browser test does not run");

describe("hosting status page sizes", () => {
  it("shows sizes in binary units up to PiB, and anything larger in PiB", () => {
    const repo = (name: string, bytes: number) => ({ name, path: `/alice/${name}/`, bytes, objects: 1, quota: null, lastWrite: null });
    const html = statusPageHtml({
      user: "alice",
      bytes: 0,
      objects: 0,
      quota: null,
      lastWrite: null,
      repositories: [repo("small", 1000), repo("kib", 1536), repo("huge", 2 * 1024 ** 6)],
    });
    expect(html).toContain(">1000 bytes<br>");
    expect(html).toContain(">1.5 KiB<br>");
    expect(html).toContain(">2048.0 PiB<br>");
  });
});

describe.skipIf(!chromium)("hosting status page in chromium", () => {
  const dir = tempDir("borgstore-hosting-status-");
  let hosting: HostingServer;
  let port: number;
  let browser: Browser;

  beforeAll(async () => {
    mkdirSync(join(dir.path, "repos"));
    writeHtpasswd(join(dir.path, "htpasswd"), { alice: "apw", bob: "bpw" });
    const config = writeHostingConfig(
      dir.path,
      `file://${dir.path}/repos/{user}/{repo}`,
      '[users.alice]\nquota = 100000\n\n[repos."alice/laptop"]\nquota = 4000\n\n[repos."bob/shared"]\ngrants = { alice = "read-only" }\n',
    );
    ({ hosting, port } = await listenHosting(config));
    const ok = async (target: string, login: string, body?: Buffer) => expect((await rawRequest(port, "POST", target, { login, body })).status).toBe(200);
    await ok("/alice/laptop/?cmd=create", "alice:apw");
    await ok("/alice/phone/?cmd=create", "alice:apw");
    await ok("/bob/bobsecret/?cmd=create", "bob:bpw");
    await ok("/bob/shared/?cmd=create", "bob:bpw");
    await ok("/alice/laptop/data/a", "alice:apw", Buffer.alloc(1000, 1));
    await ok("/alice/laptop/data/b", "alice:apw", Buffer.alloc(2000, 2));
    await ok("/alice/phone/data/c", "alice:apw", Buffer.alloc(50, 3));
    await ok("/bob/bobsecret/data/x", "bob:bpw", Buffer.alloc(77_777, 4));
    await ok("/bob/shared/data/y", "bob:bpw", Buffer.alloc(66_666, 4));
    browser = await puppeteer.launch({
      executablePath: chromium,
      headless: true,
      userDataDir: join(dir.path, "chromium-profile"),
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
      ],
    });
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await hosting?.shutdown(1000);
    dir.remove();
  });

  /** A fresh page (its own context: no credentials remembered) signed in as `username`. */
  async function pageAs(username: string, password: string): Promise<{ page: Page; violations: string[] }> {
    const context = await browser.createBrowserContext();
    const page = await context.newPage();
    const violations: string[] = [];
    page.on("console", (message) => {
      if (/Content[- ]Security[- ]Policy/i.test(message.text())) violations.push(message.text());
    });
    await page.authenticate({ username, password });
    return { page, violations };
  }

  it("shows the signed-in user's repositories with their bytes, objects, quota and last write, the totals, and no other user's repository", async () => {
    const { page, violations } = await pageAs("alice", "apw");
    const response = await page.goto(`http://127.0.0.1:${port}/_status`);
    expect(response?.status()).toBe(200);
    expect(response?.headers()["content-security-policy"]).toBe(STATUS_PAGE_CSP);
    const rows = await page.$$eval("tbody tr[data-repo]", (trs) =>
      trs.map((tr) => ({
        repo: tr.getAttribute("data-repo"),
        path: tr.querySelector("code")?.textContent,
        bytes: tr.querySelector("[data-bytes]")?.getAttribute("data-bytes"),
        objects: tr.querySelector("[data-objects]")?.textContent,
        quota: tr.querySelector("[data-quota]")?.getAttribute("data-quota"),
        used: tr.querySelector("meter")?.getAttribute("value") ?? null,
        lastWrite: tr.querySelector("time")?.getAttribute("datetime") ?? null,
      })),
    );
    expect(rows.map(({ lastWrite, ...rest }) => rest)).toEqual([
      { repo: "laptop", path: "/alice/laptop/", bytes: "3000", objects: "2", quota: "4000", used: "75.0" },
      { repo: "phone", path: "/alice/phone/", bytes: "50", objects: "1", quota: "", used: null },
    ]);
    for (const row of rows) expect(Date.now() - Date.parse(row.lastWrite ?? "")).toBeLessThan(120_000);
    const total = await page.$eval("tfoot tr", (tr) => ({
      bytes: tr.querySelector("[data-bytes]")?.getAttribute("data-bytes"),
      objects: tr.querySelector("[data-objects]")?.textContent,
      quota: tr.querySelector("[data-quota]")?.getAttribute("data-quota"),
    }));
    expect(total).toEqual({ bytes: "3050", objects: "3", quota: "100000" });
    const text = await page.$eval("body", (body) => body.textContent);
    expect(text).toContain("Storage of alice");
    expect(text).not.toMatch(/bobsecret|shared|77777|66666/);
    // The inline style applied (its hash is in the policy), and nothing was refused.
    expect(await page.$eval("table", (table) => table.ownerDocument.defaultView?.getComputedStyle(table).borderCollapse)).toBe("collapse");
    expect(violations).toEqual([]);
    await page.browserContext().close();
  }, 30_000);

  it("answers a wrong password 401 and shows nothing", async () => {
    const { page } = await pageAs("alice", "wrong");
    const response = await page.goto(`http://127.0.0.1:${port}/_status`);
    expect(response?.status()).toBe(401);
    expect(await page.$eval("body", (body) => body.textContent)).not.toMatch(/laptop|phone|alice/);
    await page.browserContext().close();
  }, 30_000);

  it("shows bob his own repositories only, a shared one included (it is his)", async () => {
    const { page } = await pageAs("bob", "bpw");
    const response = await page.goto(`http://127.0.0.1:${port}/_status`);
    expect(response?.status()).toBe(200);
    expect(await page.$$eval("tbody tr[data-repo]", (trs) => trs.map((tr) => tr.getAttribute("data-repo")))).toEqual(["bobsecret", "shared"]);
    expect(await page.$eval("body", (body) => body.textContent)).not.toMatch(/laptop|phone/);
    await page.browserContext().close();
  }, 30_000);

  it("renders hostile names as text: no element, script or attribute comes from a name", async () => {
    const hostile = `<img src=x onerror="document.title='pwned'">"'&<script>document.title='pwned'</script>`;
    const html = statusPageHtml({
      user: hostile,
      bytes: 1,
      objects: 1,
      quota: null,
      lastWrite: hostile,
      repositories: [{ name: hostile, path: hostile, bytes: 1, objects: 1, quota: 10, lastWrite: hostile }],
    });
    const context = await browser.createBrowserContext();
    const page = await context.newPage();
    await page.setContent(html);
    expect(await page.$$("img, script")).toHaveLength(0);
    expect(await page.title()).toBe(`Storage of ${hostile}`);
    expect(await page.$eval("tbody tr", (tr) => tr.getAttribute("data-repo"))).toBe(hostile);
    expect(await page.$eval("tbody code", (code) => code.textContent)).toBe(hostile);
    await context.close();
  }, 30_000);
});
