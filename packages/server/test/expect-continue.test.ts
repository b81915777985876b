import { connect } from "node:net";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ACCEPT, AUTH, type RunningServer, startInProcess, tempDir } from "./helpers.js";

const dir = tempDir();
let server: RunningServer;
beforeAll(async () => {
  server = await startInProcess(["--backend", `FILE:${join(dir.path, "s")}`, "--create", "--max-object-size", "1M"], {
    BORGSTORE_SERVER_USERNAME: "testuser",
    BORGSTORE_SERVER_PASSWORD: "testpass",
  });
});
afterAll(async () => {
  await server.stop();
  dir.remove();
});

/**
 * Sends the head of an upload announcing `length` bytes with `Expect: 100-continue` and no body
 * (as curl does for large uploads), then whatever `body` says once an interim 100 arrives; resolves
 * with everything the server wrote and whether it closed the connection, within 5 s.
 */
function upload(auth: string, length: number, body?: Buffer): Promise<{ text: string; closed: boolean }> {
  return new Promise((resolve, reject) => {
    const socket = connect(server.port, "127.0.0.1");
    let text = "";
    const done = (closed: boolean) => {
      clearTimeout(timer);
      socket.destroy();
      resolve({ text, closed });
    };
    const timer = setTimeout(() => done(false), 5000);
    socket.on("error", reject);
    socket.on("close", () => done(true));
    socket.on("data", (d) => {
      text += d.toString("latin1");
      if (body && text.startsWith("HTTP/1.1 100")) socket.write(body);
      if (/HTTP\/1\.1 [2-5]\d\d [^\r]*\r\n[\s\S]*\r\n\r\n/.test(text.replace(/^HTTP\/1\.1 100[^\r]*\r\n\r\n/, "")) && !/connection: close/i.test(text))
        done(false);
    });
    socket.write(
      `POST /data/x HTTP/1.1\r\nHost: x\r\nAccept: ${ACCEPT}\r\nAuthorization: ${auth}\r\nContent-Length: ${length}\r\nExpect: 100-continue\r\n\r\n`,
    );
  });
}

describe("Expect: 100-continue invites a body only from a request the server will take", () => {
  it("wrong credentials: 401 at once, no 100 Continue, the connection closed with the body unread", async () => {
    const wrong = `Basic ${Buffer.from("testuser:nope").toString("base64")}`;
    const { text, closed } = await upload(wrong, 20_000_000);
    expect(text).not.toMatch(/^HTTP\/1\.1 100/);
    expect(text).toMatch(/^HTTP\/1\.1 401/);
    expect(closed).toBe(true);
  });

  it("an announced size over --max-object-size: 413 at once, no 100 Continue", async () => {
    const { text, closed } = await upload(AUTH, 20_000_000);
    expect(text).not.toMatch(/^HTTP\/1\.1 100/);
    expect(text).toMatch(/^HTTP\/1\.1 413/);
    expect(closed).toBe(true);
  });

  it("valid credentials and a size that fits: 100 Continue, then the body is stored", async () => {
    const { text } = await upload(AUTH, 5, Buffer.from("hello"));
    expect(text).toMatch(/^HTTP\/1\.1 100 Continue\r\n\r\nHTTP\/1\.1 20[01]/);
  });
});
