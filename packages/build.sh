#!/usr/bin/env bash
# Builds the two npm packages from a release binary and packs them:
#   sessionspec                the launcher (npx sessionspec), conformance() and the express
#                              adapter's JavaScript, copied from stores/express-adapter (one source)
#   @sessionspec/<platform>    the binary, with the whole suite built in
# usage: packages/build.sh [--binary PATH] [--platform linux-x64] [--out DIR]
# Defaults: the release binary of CARGO_TARGET_DIR (or target/), this machine's platform, and
# CARGO_TARGET_DIR/npm. Prints the two tarballs' paths, one a line (sessionspec first).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
target=${CARGO_TARGET_DIR:-$root/target}
binary=$target/release/sessionspec
out=$target/npm
platform=$(node -p 'process.platform + "-" + process.arch')
while [ $# -gt 0 ]; do
    case $1 in
        --binary) binary=$2; shift 2 ;;
        --platform) platform=$2; shift 2 ;;
        --out) out=$2; shift 2 ;;
        *) echo "usage: $0 [--binary PATH] [--platform linux-x64] [--out DIR]" >&2; exit 2 ;;
    esac
done

case $platform in
    linux-x64) os=linux cpu=x64 exe=sessionspec ;;
    linux-arm64) os=linux cpu=arm64 exe=sessionspec ;;
    darwin-x64) os=darwin cpu=x64 exe=sessionspec ;;
    darwin-arm64) os=darwin cpu=arm64 exe=sessionspec ;;
    win32-x64) os=win32 cpu=x64 exe=sessionspec.exe ;;
    *) echo "error: unknown platform \`$platform\` (linux-x64, linux-arm64, darwin-x64, darwin-arm64, win32-x64)" >&2; exit 2 ;;
esac
if [ ! -x "$binary" ]; then
    echo "error: no sessionspec binary at $binary: cargo build --release -p sessionspec, or pass --binary" >&2
    exit 2
fi

# One version everywhere: the package, its optional dependencies and the binary's (the workspace's).
version=$(node -p "require('$root/packages/sessionspec/package.json').version")
cargo_version=$(sed -n 's/^version = "\(.*\)"$/\1/p' "$root/Cargo.toml" | head -1)
node -e "
const p = require('$root/packages/sessionspec/package.json');
const bad = Object.entries(p.optionalDependencies).filter(([, v]) => v !== p.version);
if (bad.length) { console.error('error: packages/sessionspec/package.json: optional dependencies ' + bad.map(([n, v]) => n + '@' + v).join(', ') + ' are not at ' + p.version); process.exit(2); }
if (!p.optionalDependencies['@sessionspec/$platform']) { console.error('error: packages/sessionspec/package.json does not list @sessionspec/$platform'); process.exit(2); }
"
if [ "$version" != "$cargo_version" ]; then
    echo "error: packages/sessionspec/package.json is at $version but the workspace (Cargo.toml) at $cargo_version" >&2
    exit 2
fi
if [ "$os" = "$(node -p process.platform)" ] && [ "$cpu" = "$(node -p process.arch)" ]; then
    shown=$("$binary" --version)
    if [ "$shown" != "sessionspec $version" ]; then
        echo "error: $binary says \`$shown\`, the packages are at $version" >&2
        exit 2
    fi
fi

stage=$out/stage
rm -rf "$stage"
mkdir -p "$stage/sessionspec/adapter" "$stage/$platform/bin"

# The launcher package, and the adapter files bin/adapter.js needs, found by following its
# relative requires: the seed stores' presets and their drivers stay in this repository.
cp -r "$root/packages/sessionspec/." "$stage/sessionspec/"
(cd "$root/stores/express-adapter" && node -e "
const fs = require('node:fs'), path = require('node:path');
const seen = new Set(), todo = ['bin/adapter.js'];
while (todo.length) {
  const file = todo.pop();
  if (seen.has(file)) continue;
  seen.add(file);
  const text = fs.readFileSync(file, 'utf8');
  for (const m of text.matchAll(/require\(\s*'(\.{1,2}\/[^']+)'\s*\)/g)) {
    let next = path.normalize(path.join(path.dirname(file), m[1]));
    if (!next.endsWith('.js')) next += '.js';
    todo.push(next);
  }
}
console.log([...seen].sort().join('\n'));
") | while read -r file; do
    mkdir -p "$stage/sessionspec/adapter/$(dirname "$file")"
    cp "$root/stores/express-adapter/$file" "$stage/sessionspec/adapter/$file"
done

# The platform package.
cp "$binary" "$stage/$platform/bin/$exe"
chmod 755 "$stage/$platform/bin/$exe"
cat > "$stage/$platform/package.json" <<JSON
{
  "name": "@sessionspec/$platform",
  "version": "$version",
  "description": "The sessionspec binary for $os $cpu, installed by the sessionspec package.",
  "license": "MIT OR Apache-2.0",
  "repository": { "type": "git", "url": "git+https://github.com/sessionspec/sessionspec.git" },
  "os": ["$os"],
  "cpu": ["$cpu"],
  "files": ["bin/", "README.md", "LICENSE-*"],
  "preferUnplugged": true
}
JSON
cat > "$stage/$platform/README.md" <<MD
# @sessionspec/$platform

The \`sessionspec\` binary for $os $cpu, with the whole suite built in. Install \`sessionspec\`
instead: it lists this package (and the other platforms') as optional dependencies and runs the
one that matches the machine.
MD
cp "$root/LICENSE-MIT" "$root/LICENSE-APACHE" "$stage/$platform/"
cp "$root/LICENSE-MIT" "$root/LICENSE-APACHE" "$stage/sessionspec/"

for dir in sessionspec "$platform"; do
    (cd "$stage/$dir" && npm pack --silent --pack-destination "$out" >/dev/null)
done
echo "$out/sessionspec-$version.tgz"
echo "$out/sessionspec-$platform-$version.tgz"
