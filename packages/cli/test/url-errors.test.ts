import { describe, expect, it } from "vitest";
import { runCli } from "./run-cli.js";

// A bad backend URL is exit code 9 (BACKEND_URL_INVALID) with a message that never shows the password.
describe("bad http URLs", () => {
  it("a malformed percent-encoding in the password does not echo the password", async () => {
    const r = await runCli(["http://u:SeCrEt%@127.0.0.1:1/", "ls"]);
    expect(r.code).toBe(9);
    expect(r.stderr).toContain("BACKEND_URL_INVALID");
    expect(r.stderr).not.toContain("SeCrEt");
  });

  it("a malformed percent-encoding in the user name is BACKEND_URL_INVALID and shows no password", async () => {
    const r = await runCli(["http://u%zz:SeCrEt@127.0.0.1:1/", "ls"]);
    expect(r.code).toBe(9);
    expect(r.stderr).toContain("BACKEND_URL_INVALID");
    expect(r.stderr).not.toContain("SeCrEt");
  });

  it.each(["http://u:SeCrEt@127.0.0.1:99999/", "https://u:SeCrEt@127.0.0.1:65536/store"])(
    "a port out of range is BACKEND_URL_INVALID (exit 9), not ERR_INVALID_URL: %s",
    async (url) => {
      const r = await runCli([url, "ls"]);
      expect(r.code).toBe(9);
      expect(r.stderr).toContain("BACKEND_URL_INVALID");
      expect(r.stderr).not.toContain("ERR_INVALID_URL");
      expect(r.stderr).not.toContain("SeCrEt");
    },
  );
});
