#!/usr/bin/env bash
# Proves every package installs from its `pnpm pack` tarball into a fresh project outside the
# workspace and imports there.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d /tmp/borgstore-packs.XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/tarballs" "$work/app"
names=()
for dir in "$root"/packages/*/; do
  name=$(node -p "require('$dir/package.json').name")
  private=$(node -p "Boolean(require('$dir/package.json').private)")
  [ "$private" = "true" ] && continue
  (cd "$dir" && pnpm pack --pack-destination "$work/tarballs" >/dev/null)
  names+=("$name")
done
cd "$work/app"
echo '{"name":"pack-check","private":true,"type":"module"}' > package.json
# Workspace dependencies are rewritten to versions by pnpm pack; resolve them to the local tarballs.
node -e '
const fs = require("fs"), path = require("path");
const dir = process.argv[1];
const overrides = {};
for (const f of fs.readdirSync(dir)) {
  const m = f.match(/^borgstore-(.+)-\d+\.\d+\.\d+.*\.tgz$/);
  if (m) overrides["@borgstore/" + m[1]] = "file:" + path.join(dir, f);
}
const pkg = JSON.parse(fs.readFileSync("package.json"));
pkg.dependencies = overrides; pkg.overrides = overrides;
fs.writeFileSync("package.json", JSON.stringify(pkg, null, 2));
' "$work/tarballs"
npm install --no-audit --no-fund --loglevel=error >/dev/null
for name in "${names[@]}"; do
  node --input-type=module -e "const m = await import('$name'); if (Object.keys(m).length === 0) throw new Error('$name exports nothing'); console.log('pack ok: $name (' + Object.keys(m).length + ' exports)')"
done
