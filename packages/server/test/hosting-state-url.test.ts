import { describe, expect, it } from "vitest";
import { stateUrlOverlap } from "../src/hosting/state-url.js";

// Where state_url may not be, on its own: hosting-config.test.ts sees one case of it through a config.

const INSIDE = /^it is inside the key prefix where repositories\.backend makes users' repositories/;
const CONTAINS = /^it contains the key prefix where repositories\.backend makes users' repositories; put it beside that prefix$/;

describe("hosting state_url overlap", () => {
  it("refuses records inside the users' key prefix or around it, whatever the credentials and trailing slashes", () => {
    const backend = "s3:key:secret@http://host:9000/bucket/repos/{user}/{repo}";
    expect(stateUrlOverlap("s3:k2:s2@http://host:9000/bucket/repos/state", backend)).toMatch(INSIDE);
    expect(stateUrlOverlap("s3:k2:s/2@http://host:9000/bucket/repos/state//", backend)).toMatch(INSIDE);
    expect(stateUrlOverlap("s3:k2:s2@http://host:9000/bucket", backend)).toMatch(CONTAINS);
    expect(stateUrlOverlap("s3:k2:s2@http://host:9000/bucket/", backend)).toMatch(CONTAINS);
    expect(stateUrlOverlap("s3:k2:s2@http://host:9000/bucket//", backend)).toMatch(CONTAINS);
    // Credentials in one of them only.
    expect(stateUrlOverlap("s3:http://host:9000/bucket/repos/state", backend)).toMatch(INSIDE);
    expect(stateUrlOverlap("b2:k2:s2@http://host:9000/bucket/state", backend)).toBeUndefined();
    expect(stateUrlOverlap("s3:http://host:9000/bucket/reposx/state", backend)).toBeUndefined();
    expect(stateUrlOverlap("s3:http://other:9000/bucket/repos/state", backend)).toBeUndefined();
  });

  it("takes the prefix up to the first placeholder, {user} or {repo}, even inside a segment", () => {
    expect(stateUrlOverlap("s3:http://h/bs-state", "s3:http://h/bs-{user}/{repo}")).toMatch(INSIDE);
    expect(stateUrlOverlap("s3:http://h/b-state", "s3:http://h/bs-{user}/{repo}")).toBeUndefined();
    expect(stateUrlOverlap("s3:http://h/b/alice/state", "s3:http://h/b/alice/{repo}")).toMatch(INSIDE);
    expect(stateUrlOverlap("s3:http://h/b/{repo}x/state", "s3:http://h/b/{repo}/{user}")).toMatch(INSIDE);
    expect(stateUrlOverlap("b2:http://h/b/r/state", "b2:http://h/b/r/{user}/{repo}")).toMatch(INSIDE);
  });

  it("has nothing to say about a template that is no s3: or b2: URL", () => {
    expect(stateUrlOverlap("s3:http://h/b/repos/state", "file:///srv/s3:/b/repos/{user}/{repo}")).toBeUndefined();
    expect(stateUrlOverlap("s3:http://h/b", "sftp://h/b/{user}/{repo}")).toBeUndefined();
    expect(stateUrlOverlap("sftp://h/b/state", "sftp://h/b/{user}/{repo}")).toBeUndefined();
    expect(stateUrlOverlap("file:///srv/s3:/b/repos/state", "file:///srv/s3:/b/repos/{user}/{repo}")).toBeUndefined();
  });
});
