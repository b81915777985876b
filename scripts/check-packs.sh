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
# Entries besides the main one.
for entry in @borgstore/core/backend @borgstore/core/rest-protocol; do
  node --input-type=module -e "const m = await import('$entry'); if (Object.keys(m).length === 0) throw new Error('$entry exports nothing'); console.log('pack ok: $entry (' + Object.keys(m).length + ' exports)')"
done

# What every tarball must carry: the licence notice BSD-3-Clause requires, the sources its source
# maps point to, and the metadata npm's page and search show.
for tgz in "$work"/tarballs/*.tgz; do
  listing=$(tar -tzf "$tgz")
  for want in package/LICENSE package/README.md package/src/index.ts package/dist/index.js package/dist/index.d.ts; do
    grep -qx "$want" <<<"$listing" || { echo "pack: $(basename "$tgz") lacks ${want#package/}" >&2; exit 1; }
  done
done
for name in "${names[@]}"; do
  node -e '
    const p = require(process.argv[1] + "/package.json");
    for (const field of ["license", "repository", "homepage", "bugs", "keywords", "types"])
      if (!p[field] || (Array.isArray(p[field]) && p[field].length === 0)) throw new Error(p.name + " has no " + field);
    if (!p.exports["./package.json"] || !p.exports["."].default) throw new Error(p.name + " exports lack ./package.json or a default condition");
    if (p.name !== "@borgstore/core" && p.name !== "@borgstore/server" && p.name !== "@borgstore/cli" && !(p.peerDependencies || {})["@borgstore/core"])
      throw new Error(p.name + " must take @borgstore/core as a peer dependency (one copy of core per application)");
  ' "$work/app/node_modules/$name"
done
echo "pack ok: LICENSE, sources, metadata, exports and peer dependencies"

# CommonJS callers: the package.json is requirable, and require() of the ESM-only entry fails with
# Node's own explanation (dynamic import()) on Node 20, or works where Node loads ESM from require.
cat > check.cjs <<'CJS'
for (const name of process.argv.slice(2)) {
  require(`${name}/package.json`);
  try {
    require(name);
  } catch (err) {
    if (err.code !== "ERR_REQUIRE_ESM" || !/import\(\)/.test(err.message)) throw err;
  }
}
console.log("pack ok: CommonJS callers get package.json and a clear ESM-only error");
CJS
node check.cjs "${names[@]}"

# TypeScript callers with each module resolution people use: NodeNext, bundler and the old node10.
tsc="$root/node_modules/typescript/bin/tsc"
imports=""
for name in "${names[@]}"; do
  [ "$name" = "@borgstore/cli" ] && continue
  imports+="export * as m$(echo "$name" | tr -c 'a-z' '_') from \"$name\";"$'\n'
done
imports+='export * as kit from "@borgstore/core/backend";'$'\n'
printf '%s' "$imports" > index.ts
printf 'import { Store, MemoryBackend } from "@borgstore/core";\nawait using store = new Store({ backend: new MemoryBackend(), config: { "": { levels: [0] } } });\nawait store.hash("x", { algorithm: "sha256" });\n' > use.ts
for resolution in "nodenext nodenext" "esnext bundler" "commonjs node10"; do
  set -- $resolution
  files="index.ts"; [ "$1" != commonjs ] && files="index.ts use.ts"
  # shellcheck disable=SC2086
  node "$tsc" --noEmit --strict --skipLibCheck false --target es2022 --lib es2023,esnext.disposable,dom --types node \
    --typeRoots "$root/node_modules/@types" --module "$1" --moduleResolution "$2" $files \
    || { echo "pack: TypeScript with moduleResolution $2 cannot use the packages" >&2; exit 1; }
  echo "pack ok: TypeScript, moduleResolution $2"
done
