import { createHash, createHmac, generateKeyPairSync, randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, writeFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { HostKeyVerificationFailed, KnownHosts, hostMatches, knownHostsName, sftpBackendFromUrl } from "@borgstore/backend-sftp";
import { ErrorCodes } from "@borgstore/core";
import { afterAll, describe, expect, it } from "vitest";
import { env, freshPath, localServer, serverUrl, testOptions } from "./server.js";

const scratch = mkdtempSync(join(tmpdir(), "borgstore-sftp-known-hosts-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** A fresh ed25519 public key as an SSH wire blob and its base64 (known_hosts form). */
function newKeyBlob(): { blob: Buffer; b64: string } {
  const { publicKey } = generateKeyPairSync("ed25519");
  const raw = publicKey.export({ format: "der", type: "spki" }).subarray(-32);
  const type = Buffer.from("ssh-ed25519");
  const blob = Buffer.concat([u32(type.length), type, u32(raw.length), raw]);
  return { blob, b64: blob.toString("base64") };
}

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
}

function hashedHost(host: string): string {
  const salt = randomBytes(20);
  return `|1|${salt.toString("base64")}|${createHmac("sha1", salt).update(host).digest("base64")}`;
}

describe("known_hosts matching, as OpenSSH reads the file", () => {
  const key = newKeyBlob();
  const other = newKeyBlob();

  it("names a host on port 22 plainly and on other ports as [host]:port", () => {
    expect(knownHostsName("example.org", 22)).toBe("example.org");
    expect(knownHostsName("127.0.0.1", 2222)).toBe("[127.0.0.1]:2222");
  });

  it("matches plain names, comma lists, wildcards and negations, case-insensitively", () => {
    expect(hostMatches("a.example,b.example", "b.example")).toBe(true);
    expect(hostMatches("*.example", "Host.EXAMPLE")).toBe(true);
    expect(hostMatches("*.example,!bad.example", "bad.example")).toBe(false);
    expect(hostMatches("[127.0.0.1]:2222", "[127.0.0.1]:2223")).toBe(false);
    expect(hostMatches("h?st", "host")).toBe(true);
  });

  it("matches hashed entries (|1|salt|hmac) only for their host", () => {
    const entry = hashedHost("[127.0.0.1]:2222");
    expect(hostMatches(entry, "[127.0.0.1]:2222")).toBe(true);
    expect(hostMatches(entry, "[127.0.0.1]:2223")).toBe(false);
  });

  it("accepts the listed key, calls another key of the same type changed and a missing host unknown", () => {
    const kh = KnownHosts.parse(`# comment\n${hashedHost("h")} ssh-ed25519 ${key.b64}\n`);
    expect(kh.check("h", key.blob)).toBeUndefined();
    expect(kh.check("h", other.blob)).toBe("changed");
    expect(kh.check("elsewhere", key.blob)).toBe("unknown");
    expect(kh.keyTypesFor("h")).toEqual(["ssh-ed25519"]);
  });

  it("refuses a key marked @revoked and ignores @cert-authority lines for plain keys", () => {
    const kh = KnownHosts.parse(`@revoked * ssh-ed25519 ${key.b64}\nh ssh-ed25519 ${key.b64}\n@cert-authority h ssh-ed25519 ${other.b64}\n`);
    expect(kh.check("h", key.blob)).toBe("revoked");
    expect(kh.check("h", other.blob)).toBe("changed");
  });

  it("the refusal tells the host, the problem and the SHA256 fingerprint", () => {
    const kh = KnownHosts.parse(`h ssh-ed25519 ${key.b64}\n`, "/x/known_hosts");
    const err = (() => {
      try {
        kh.verify("h", other.blob);
      } catch (e) {
        return e as HostKeyVerificationFailed;
      }
    })();
    const fp = `SHA256:${createHash("sha256").update(other.blob).digest("base64").replace(/=+$/, "")}`;
    expect(err).toBeInstanceOf(HostKeyVerificationFailed);
    expect(err?.problem).toBe("changed");
    expect(err?.message).toContain("HAS CHANGED");
    expect(err?.message).toContain(fp);
    expect(err?.message).toContain("/x/known_hosts");
  });
});

describe.skipIf(!localServer)("host key verification against the real sshd", () => {
  const url = () => `${(serverUrl as string).replace(/\/+$/, "")}/${freshPath("hostkey")}`;

  it("a host missing from known_hosts is refused, never accepted silently", async () => {
    const empty = join(scratch, "empty_known_hosts");
    writeFileSync(empty, "");
    const backend = sftpBackendFromUrl(url(), testOptions({ knownHostsFiles: [empty] }));
    const err = await backend?.create().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(HostKeyVerificationFailed);
    expect(err).toMatchObject({ problem: "unknown", code: ErrorCodes.BACKEND_ERROR });
    expect((err as Error).message).toContain(`[127.0.0.1]:${env.port}`);
  });

  it("a host whose key changed is refused with a warning", async () => {
    const changed = join(scratch, "changed_known_hosts");
    writeFileSync(changed, `[127.0.0.1]:${env.port} ssh-ed25519 ${newKeyBlob().b64}\n`);
    const backend = sftpBackendFromUrl(url(), testOptions({ knownHostsFiles: [changed] }));
    const err = await backend?.create().catch((e: unknown) => e);
    expect(err).toMatchObject({ problem: "changed" });
    expect((err as Error).message).toMatch(/HAS CHANGED/);
  });

  it("a known host is accepted from a hashed known_hosts entry", async () => {
    const line = readFileSync(env.knownHosts, "utf8").split("\n").find((l) => l.startsWith("[127.0.0.1]:")) as string;
    const [, type, b64] = line.split(" ");
    const hashed = join(scratch, "hashed_known_hosts");
    writeFileSync(hashed, `${hashedHost(`[127.0.0.1]:${env.port}`)} ${type} ${b64}\n`);
    const backend = sftpBackendFromUrl(url(), testOptions({ knownHostsFiles: [hashed] }));
    await backend?.create();
    await backend?.open();
    await backend?.store("k", new Uint8Array([5]));
    expect(Array.from((await backend?.load("k")) ?? [])).toEqual([5]);
    await backend?.close();
    await backend?.destroy();
    // The same key hashed for another port matches nothing: the hash is what let the first one in.
    const elsewhere = join(scratch, "hashed_elsewhere_known_hosts");
    writeFileSync(elsewhere, `${hashedHost(`[127.0.0.1]:${env.port + 1}`)} ${type} ${b64}\n`);
    const refused = sftpBackendFromUrl(url(), testOptions({ knownHostsFiles: [elsewhere] }));
    await expect(refused?.create()).rejects.toMatchObject({ problem: "unknown" });
  });
});
