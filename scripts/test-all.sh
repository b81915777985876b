#!/usr/bin/env bash
# The whole test suite (`pnpm test`, also run by .ci/run): builds, typechecks, lints and builds the
# docs site, starts the real test servers on loopback, runs every package's tests against them,
# checks that every package installs from its tarball, and proves the example community backend
# (examples/). It behaves as CI does: CI=true makes a missing server or Python peer a failure, and
# a skipped test not on test/skip-allowlist.json fails the run.
set -euo pipefail
export CI=true
cd "$(dirname "$0")/.."
rm -f packages/*/test-results.json test/test-results.json
# The whole conformance kit over stdio too, to our server and to the Python reference (each test
# starts its own server processes: a minute or two more).
export BORGSTORE_TEST_REST_STDIO_FULL=1
pnpm turbo run build --output-logs=errors-only
pnpm turbo run typecheck --output-logs=errors-only
pnpm lint
# The API docs site (docs-site/): typedoc fails on an undocumented export or a broken {@link},
# then every link and anchor of the built pages is checked offline.
status=0
pnpm run docs || status=$?
bash scripts/with-test-servers.sh \
  pnpm turbo run test --concurrency=1 --continue -- --reporter=default --reporter=json --outputFile=test-results.json || status=$?
bash scripts/check-packs.sh || status=$?
# The community-backend example, as a third party builds it: tarball installs, the kit over WebDAV.
bash scripts/check-example-backend.sh || status=$?
# The README's quick start, as written, in a fresh clone of the committed HEAD (test/quickstart.test.ts).
pnpm test:quickstart --reporter=default --reporter=json --outputFile=test-results.json || status=$?
node scripts/summarize-tests.mjs
node scripts/check-skips.mjs || status=$?
exit "$status"
