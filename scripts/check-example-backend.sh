#!/usr/bin/env bash
# Proves the community-backend story end to end with examples/borgstore-backend-webdav, as a third
# party would live it: outside the workspace, it installs @borgstore/core and @borgstore/testkit
# from their `pnpm pack` tarballs with npm, typechecks, builds and passes the conformance kit
# against a real WebDAV server (rclone serve webdav); then its own `npm pack` tarball is installed
# with core's into a fresh project, where importing it registers webdav:// and a Store opened by
# that URL round-trips a value on the server.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d /tmp/borgstore-example.XXXXXX)
started=""
kit=""
cleanup() {
  [ -n "$kit" ] && kill "$kit" 2>/dev/null || true
  [ -n "$started" ] && bash "$root/scripts/test-servers/webdav.sh" stop "$work/webdav" >&2 || true
  rm -rf "$work"
}
trap cleanup EXIT
step() { echo "example backend [${SECONDS}s]: $*" >&2; }

if [ -z "${BORGSTORE_TEST_WEBDAV_URL:-}" ]; then
  mkdir -p "$work/webdav"
  eval "$(bash "$root/scripts/test-servers/webdav.sh" start "$work/webdav")"
  started=1
fi

# The example as a stranger's checkout: its own files only, no node_modules or workspace around it.
example="$work/borgstore-backend-webdav"
mkdir -p "$example" "$work/tarballs"
(cd "$root/examples/borgstore-backend-webdav" && git ls-files -z --cached --others --exclude-standard . | xargs -0 cp --parents -t "$example")
mkdir -p "$example/.tarballs"
for pkg in core testkit; do
  (cd "$root/packages/$pkg" && pnpm pack --pack-destination "$work/tarballs" >/dev/null)
  cp "$work"/tarballs/borgstore-$pkg-[0-9]*.tgz "$example/.tarballs/borgstore-$pkg.tgz"
done

cd "$example"
step "npm install (core and testkit from their tarballs)"
npm install --prefer-offline --no-audit --no-fund --loglevel=error >/dev/null
node -e 'for (const p of ["@borgstore/core", "@borgstore/testkit"]) { const j = require(p + "/package.json"); if (j.devDependencies && JSON.stringify(j).includes("workspace:")) throw new Error(p + " came from the workspace, not its tarball"); }'
step "build, typecheck, conformance kit against $(echo "$BORGSTORE_TEST_WEBDAV_URL" | sed -E 's#//[^@/]*@#//***@#')"
npm run --silent build
npm pack --pack-destination "$work/tarballs" --silent >/dev/null
# The kit runs while the fresh project below installs and runs (wall time: two cores).
CI=true npx vitest run --reporter=dot >"$work/kit.log" 2>&1 &
kit=$!
npx tsc -p tsconfig.json --noEmit # the tests too (the build checks only src)
step "fresh project: npm install of core and the backend from their tarballs"

# A fresh application: core and the community backend, each from its tarball.
app="$work/app"
mkdir -p "$app"
cd "$app"
echo '{"name":"webdav-app","private":true,"type":"module"}' >package.json
npm install --prefer-offline --no-audit --no-fund --loglevel=error "$work"/tarballs/borgstore-core-[0-9]*.tgz "$work"/tarballs/borgstore-backend-webdav-[0-9]*.tgz >/dev/null
cat >app.mjs <<'JS'
import "borgstore-backend-webdav";
import { Store } from "@borgstore/core";
import { randomBytes } from "node:crypto";
const url = `${process.env.BORGSTORE_TEST_WEBDAV_URL}app-${randomBytes(6).toString("hex")}`;
const config = { "": { levels: [0] }, "data/": { levels: [1] } };
const created = await Store.fromUrl(url, { config });
await created.create();
const store = new Store({ url, config });
await store.open();
try {
  await store.store("data/0123abcd", new TextEncoder().encode("hello over webdav"));
  const back = new TextDecoder().decode(await store.load("data/0123abcd"));
  if (back !== "hello over webdav") throw new Error(`read back ${JSON.stringify(back)}`);
} finally {
  await store.close();
}
await created.destroy();
console.log("example backend ok: a fresh project opened a webdav:// Store and round-tripped a value");
JS
node app.mjs
printf 'import "borgstore-backend-webdav";\nimport { WebdavBackend } from "borgstore-backend-webdav";\nimport { Backend } from "@borgstore/core";\nconst b: Backend = new WebdavBackend({ baseUrl: "http://127.0.0.1:1/x/" });\nvoid b;\n' >use.ts
node "$root/node_modules/typescript/bin/tsc" --noEmit --strict --target es2022 --lib es2023,esnext.disposable,dom --types node \
  --typeRoots "$root/node_modules/@types" --module nodenext --moduleResolution nodenext use.ts
echo "example backend ok: TypeScript (nodenext) sees its types"
if wait "$kit"; then
  kit=""
  grep -E "Tests |Duration" "$work/kit.log" >&2
  echo "example backend ok: the conformance kit passes over WebDAV"
else
  cat "$work/kit.log" >&2
  echo "example backend: the conformance kit FAILED over WebDAV" >&2
  exit 1
fi
step "done"
