import { existsSync, readFileSync, readdirSync } from "node:fs";
import { join, resolve } from "node:path";
import { describe, expect, it } from "vitest";

// CONTRIBUTING.md, "Where things live in a backend": every backend package and the example
// community backend name the same rooms the same way.

const ROOT = resolve(import.meta.dirname, "..");
const backends = [
  ...readdirSync(join(ROOT, "packages"))
    .filter((name) => name.startsWith("backend-"))
    .map((name) => ({ dir: join(ROOT, "packages", name), kind: name.slice("backend-".length) })),
  { dir: join(ROOT, "examples/borgstore-backend-webdav"), kind: "webdav" },
];

describe.each(backends)("the $kind backend's source layout", ({ dir, kind }) => {
  const src = (file: string) => join(dir, "src", file);
  const text = (file: string) => readFileSync(src(file), "utf8");

  it(`keeps its Backend class in ${kind}-backend.ts`, () => {
    expect(text(`${kind}-backend.ts`)).toMatch(/export class \w+ extends Backend\b/);
  });

  it("keeps its BackendPlugin in url-plugin.ts and its URL parsing in url.ts", () => {
    expect(text("url-plugin.ts")).toMatch(/export const plugin: BackendPlugin\b/);
    expect(existsSync(src("url.ts"))).toBe(true);
  });

  it("maps the storage's failures to core's errors in errors.ts, with toBackendError", () => {
    expect(text("errors.ts")).toMatch(/export function toBackendError\(/);
  });

  it("has none of the old names (backend.ts, plugin.ts, status.ts, <kind>-errors.ts)", () => {
    for (const old of ["backend.ts", "plugin.ts", "status.ts", `${kind}-errors.ts`]) expect(existsSync(src(old)), old).toBe(false);
  });
});
