import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { UsageRecords, parseRecord } from "../src/hosting/usage-records.js";

// The usage records in the state folder, on their own: a user not seen yet has none, a folder that
// cannot be read is an error (not an empty user, whose quota would then count nothing).

const folders: string[] = [];
afterEach(() => {
  for (const folder of folders.splice(0)) rmSync(folder, { recursive: true, force: true });
});

describe("usage records in the state folder", () => {
  it("has none for a user not seen yet, and fails for a user's folder it cannot read", async () => {
    const dir = mkdtempSync(join(tmpdir(), "usage-records-"));
    folders.push(dir);
    const records = new UsageRecords(dir);
    expect(await records.readUser("alice")).toEqual(new Map());
    await records.write("alice", "laptop", { bytes: 3, objects: 1, clean: true });
    expect(await records.readUser("alice")).toEqual(new Map([["laptop", { bytes: 3, objects: 1, clean: true }]]));
    // Not a folder: readdir fails with ENOTDIR.
    writeFileSync(join(dir, "bob"), "");
    await expect(records.readUser("bob")).rejects.toMatchObject({ code: "ENOTDIR" });
  });

  it("reads a record with a negative or missing figure as not clean, to be measured again", () => {
    const measureAgain = { bytes: 0, objects: 0, clean: false };
    expect(parseRecord('{"bytes":5,"objects":2,"clean":true,"lastWrite":7}')).toEqual({ bytes: 5, objects: 2, clean: true, lastWrite: 7 });
    expect(parseRecord('{"bytes":5,"objects":-1,"clean":true}')).toEqual(measureAgain);
    expect(parseRecord('{"bytes":-5,"objects":2,"clean":true}')).toEqual(measureAgain);
    expect(parseRecord('{"objects":2,"clean":true}')).toEqual(measureAgain);
    expect(parseRecord("not json")).toEqual(measureAgain);
  });
});
