import { InvalidArgument } from "@borgstore/core";
import { describe, expect, it } from "vitest";
import { hostExposure, isLoopbackAddress, resolveCredentials } from "../src/auth-policy.js";
import { basicUserName, checkCredentials, isAuthorized } from "../src/auth.js";

const basic = (text: string, scheme = "Basic") => `${scheme} ${Buffer.from(text).toString("base64")}`;
const ALICE = { username: "alice", password: "s3cret" };

describe("Basic auth as the reference checks it", () => {
  it("accepts the scheme in any case and blanks around the token, and nothing but Basic", () => {
    expect(isAuthorized(basic("alice:s3cret"), ALICE)).toBe(true);
    expect(isAuthorized(basic("alice:s3cret", "bAsIc"), ALICE)).toBe(true);
    expect(isAuthorized(`Basic  ${Buffer.from("alice:s3cret").toString("base64")}  `, ALICE)).toBe(true);
    expect(isAuthorized(basic("alice:s3cret", "Bearer"), ALICE)).toBe(false);
    expect(isAuthorized(basic("alice:wrong"), ALICE)).toBe(false);
    expect(isAuthorized(undefined, ALICE)).toBe(false);
  });

  it("splits at the first colon: the password may contain more", () => {
    expect(isAuthorized(basic("alice:a:b"), { username: "alice", password: "a:b" })).toBe(true);
    expect(basicUserName(basic("bob:x:y"))).toBe("bob");
    expect(basicUserName(basic("no colon"))).toBeUndefined();
    expect(basicUserName(basic("bob:x", "Digest"))).toBeUndefined();
  });

  it("refuses half-configured credentials, saying which part is empty", () => {
    expect(checkCredentials({ username: "", password: "" })).toBeUndefined();
    expect(() => checkCredentials({ username: "", password: "p" })).toThrow(InvalidArgument);
    expect(() => checkCredentials({ username: "", password: "p" })).toThrow("the password is set but the user name is empty");
    expect(() => checkCredentials({ username: "u", password: "" })).toThrow("the user name is set but the password is empty");
  });
});

describe("the command line's auth policy", () => {
  it("says which part of the credentials is missing", () => {
    expect(resolveCredentials({ username: "", password: "" })).toEqual(new Error("auth is half-configured: the user name and the password are both empty"));
    expect((resolveCredentials({ password: "p" }) as Error).message).toMatch(/^auth is half-configured: a password is set but no user name/);
    expect((resolveCredentials({ username: "u", password: "" }) as Error).message).toMatch(/^auth is half-configured: a user name is set but the password is empty/);
    expect(resolveCredentials({ username: "u", password: "p" })).toEqual({ username: "u", password: "p" });
    expect(resolveCredentials({})).toBeUndefined();
  });

  it("knows loopback addresses in every spelling", () => {
    for (const address of ["127.0.0.1", "127.9.9.9", "::1", "0:0:0:0:0:0:0:1", "::ffff:127.0.0.1", "::FFFF:127.0.0.1"])
      expect(isLoopbackAddress(address), address).toBe(true);
    for (const address of ["10.0.0.1", "::2", "::ffff:10.0.0.1", "128.0.0.1"]) expect(isLoopbackAddress(address), address).toBe(false);
  });

  it("calls a --host loopback when it is a loopback address or a name resolving only to such", async () => {
    expect(await hostExposure("127.0.0.1")).toBe("loopback");
    expect(await hostExposure("::1")).toBe("loopback");
    expect(await hostExposure("0.0.0.0")).toBe("network");
    expect(await hostExposure("localhost")).toBe("loopback");
  });
});
