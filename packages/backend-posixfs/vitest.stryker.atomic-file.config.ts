import { fileURLToPath } from "node:url";
import { configDefaults, defineConfig } from "vitest/config";

// One chunk of `pnpm test:mutation backend-posixfs` (stryker.atomic-file.config.mjs): atomic-file.ts is
// reached by nearly every test that stores, so each of its mutants would rerun dozens of files. Here
// only the files that check its paths: stores (posixfs-backend, store, abort), the copy across
// filesystems (cross-device), and the uploads directory (uploads-sweep). A score from these is a
// lower bound of the package's own tests' score.
export default defineConfig({
  resolve: { alias: { "@borgstore/backend-posixfs": fileURLToPath(new URL("./src/index.ts", import.meta.url)) } },
  test: {
    testTimeout: 60_000,
    hookTimeout: 60_000,
    exclude: [...configDefaults.exclude, "**/.stryker-tmp/**"],
    include: [
      "test/posixfs-backend.test.ts",
      "test/cross-device.test.ts",
      "test/store.test.ts",
      "test/abort.test.ts",
      "test/uploads-sweep.test.ts",
    ],
  },
});
