#!/usr/bin/env bash
# Builds the local server images named in harness/backends/matrix.toml (`local = ...`) for machines
# with no container registry: one debootstrap root filesystem per Debian suite, imported as
# sessionspec/base:<suite>, then a small docker build per server on top. Reuses everything already
# built: an image whose org.sessionspec.inputs label matches the hash of its inputs is skipped.
# Never removes an image or container it did not create: all it makes carries org.sessionspec=1.
#
# Usage: build.sh [--force] [NAME...]   NAME as in `local` without "sessionspec/", e.g. postgres:15
#        build.sh --list                what it can build, with each image's state
# Env:   SESSIONSPEC_IMAGE_CACHE   root filesystems, pip output, logs (default /var/cache/sessionspec-images)
#        SESSIONSPEC_DEBIAN_MIRROR overrides the mirror read from /etc/apt/sources.list{,.d/}
#        SESSIONSPEC_MATRIX        another matrix file (default harness/backends/matrix.toml)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
matrix="${SESSIONSPEC_MATRIX:-$(dirname "$here")/matrix.toml}"
cache="${SESSIONSPEC_IMAGE_CACHE:-/var/cache/sessionspec-images}"
# Bump when the way a base (or an image on it) is made changes in a way the hashed inputs below
# cannot see, e.g. the debootstrap options or the build arguments passed to docker build.
base_recipe=1
image_recipe=1
# The legacy builder: the daemon is Debian's 20.10 and no buildx plugin is installed.
export DOCKER_BUILDKIT=0

say() { printf 'build: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

usage() {
    awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "${BASH_SOURCE[0]}" >&2
    exit "${1:-2}"
}

force=0 list=0 wanted=()
for arg in "$@"; do
    case "$arg" in
        --force) force=1 ;;
        --list) list=1 ;;
        -h | --help) usage 0 ;;
        -*) say "unknown option $arg"; usage ;;
        *) wanted+=("${arg#sessionspec/}") ;;
    esac
done

# --- the matrix -------------------------------------------------------------------------------
# One line per local image: "<name> <suite> <faketime>", name being `local` without the
# "sessionspec/" prefix. Several entries may share one image (the environment entries run the
# plain image with another time zone or clock): the image is listed once, and <faketime> is 1
# when any entry on it sets `clock_offset`, which needs libfaketime in the image.
read_matrix() {
    [ -f "$matrix" ] || die "matrix file not found: $matrix"
    awk '
        function flush() {
            if (img != "") {
                name = substr(img, index(img, "/") + 1)
                if (!(name in suite_of)) { order[++n] = name; suite_of[name] = (suite == "" ? "-" : suite) }
                else if (suite_of[name] != (suite == "" ? "-" : suite)) {
                    printf "build: error: %s: local image %s is given two Debian suites\n", FILENAME, img > "/dev/stderr"
                    bad = 1
                }
                if (offset != "") faketime[name] = 1
            }
            img = ""; suite = ""; offset = ""
        }
        /^\[\[backend\]\]/ { flush(); next }
        /^[ \t]*(#|$)/ { next }
        {
            line = $0; sub(/[ \t]*#.*$/, "", line)
            key = line; sub(/[ \t]*=.*$/, "", key); gsub(/[ \t]/, "", key)
            val = line; sub(/^[^=]*=[ \t]*/, "", val); gsub(/"/, "", val)
            if (key == "local") img = val
            else if (key == "suite") suite = val
            else if (key == "clock_offset") offset = val
        }
        END {
            flush()
            if (bad) exit 1
            for (i = 1; i <= n; i++) print order[i], suite_of[order[i]], (order[i] in faketime ? 1 : 0)
        }
    ' "$matrix"
}

mapfile -t entries < <(read_matrix || echo "!")
[ "${#entries[@]}" -gt 0 ] || die "no [[backend]] entries with a local image in $matrix"
[ "${entries[${#entries[@]} - 1]}" != "!" ] || die "cannot read the local images of $matrix"

# Fields of an entry line.
entry_name() { printf '%s\n' "${1%% *}"; }
entry_suite() { local rest="${1#* }"; printf '%s\n' "${rest%% *}"; }
entry_faketime() { printf '%s\n' "${1##* }"; }

suite_of() {
    local e
    for e in "${entries[@]}"; do
        if [ "$(entry_name "$e")" = "$1" ]; then entry_suite "$e"; return 0; fi
    done
    return 1
}

# The Dockerfile directory under images/ for a server, and the Debian packages it needs.
recipe_dir() {
    case "${1%%:*}" in
        postgres) echo postgres ;;
        redis | valkey) echo redis ;;
        mariadb) echo mariadb ;;
        secantus) echo secantus ;;
        *) die "no recipe for '$1' (known servers: postgres, redis, valkey, mariadb, secantus)" ;;
    esac
}
packages_of() {
    local server="${1%%:*}" version="${1#*:}"
    case "$server" in
        postgres) echo "postgresql-$version" ;;
        redis) echo redis-server ;;
        valkey) echo valkey-server ;;
        mariadb) echo mariadb-server mariadb-client ;;
        secantus) echo python3 python3-venv ;;
        *) recipe_dir "$1" >/dev/null ;;
    esac
}

# Every package the suite's base carries: the union over all of the suite's backends, whatever
# subset is being built, so that building one image never changes another one's base.
suite_packages() {
    local e pkgs=()
    for e in "${entries[@]}"; do
        if [ "$(entry_suite "$e")" = "$1" ]; then
            # shellcheck disable=SC2207
            pkgs+=($(packages_of "$(entry_name "$e")"))
            # LD_PRELOADed into the server by an entry's clock_offset (harness/containers sets
            # FAKETIME); in the base of that suite only, so other suites' images stay as they are.
            if [ "$(entry_faketime "$e")" = 1 ]; then pkgs+=(libfaketime); fi
        fi
    done
    printf '%s\n' "${pkgs[@]}" | sort -u | paste -sd, -
}

# --- the Debian mirror ------------------------------------------------------------------------
debian_mirror() {
    if [ -n "${SESSIONSPEC_DEBIAN_MIRROR:-}" ]; then echo "$SESSIONSPEC_DEBIAN_MIRROR"; return; fi
    local f uri suites='(oldstable|stable|testing|unstable|sid|buster|bullseye|bookworm|trixie|forky)'
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -f "$f" ] || continue
        # deb822 stanzas; a suite such as "bookworm" (not bookworm-security) marks the main archive.
        uri="$(awk -v re="^Suites:.*[ \t]$suites([ \t]|\$)" '
            BEGIN { RS = ""; FS = "\n" }
            {
                uris = ""; ok_type = 0; ok_suite = 0; enabled = 1
                for (i = 1; i <= NF; i++) {
                    if ($i ~ /^Types:.*[ \t]deb([ \t]|$)/) ok_type = 1
                    if ($i ~ re) ok_suite = 1
                    if ($i ~ /^Enabled:[ \t]*no/) enabled = 0
                    if ($i ~ /^URIs:/) { uris = $i; sub(/^URIs:[ \t]*/, "", uris) }
                }
                if (ok_type && ok_suite && enabled && uris != "") { split(uris, a, /[ \t]+/); print a[1]; exit }
            }' "$f")"
        if [ -n "$uri" ]; then echo "$uri"; return; fi
    done
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [ -f "$f" ] || continue
        uri="$(awk -v re="^$suites\$" '
            $1 == "deb" {
                i = 2
                if ($i ~ /^\[/) { while ($i !~ /\]$/ && i < NF) i++; i++ }
                if ($(i + 1) ~ re) { print $i; exit }
            }' "$f")"
        if [ -n "$uri" ]; then echo "$uri"; return; fi
    done
    die "no Debian mirror found in /etc/apt/sources.list or /etc/apt/sources.list.d/ (set SESSIONSPEC_DEBIAN_MIRROR)"
}

# --- hashing and image state --------------------------------------------------------------------
hash_text() { sha256sum | cut -c1-16; }

base_inputs() {
    printf 'recipe=%s\nsuite=%s\nmirror=%s\nvariant=minbase\npackages=%s\n' \
        "$base_recipe" "$1" "$mirror" "$(suite_packages "$1")" | hash_text
}
image_inputs() {
    local name="$1" dir
    dir="$here/$(recipe_dir "$name")"
    {
        printf 'recipe=%s\nname=%s\nbase=%s\n' "$image_recipe" "$name" "$(base_inputs "$(suite_of "$name")")"
        # The recipe directory's files, names and contents, in a stable order.
        (cd "$dir" && find . -type f -print0 | sort -z | xargs -0 sha256sum)
    } | hash_text
}
label_of() {
    docker image inspect --format '{{ index .Config.Labels "org.sessionspec.inputs" }}' "$1" 2>/dev/null || true
}

# --- a suite's root filesystem and base image -----------------------------------------------------
unmount_under() {
    # Deepest first; lazy so a busy mount does not stop the cleanup.
    awk -v p="$1/" 'index($2, p) == 1 { print $2 }' /proc/mounts | sort -r |
        while IFS= read -r m; do umount -l "$m" 2>/dev/null || true; done
}

ensure_rootfs() {
    local suite="$1" want="$2" pkgs dir tmp log start
    dir="$cache/rootfs/$suite"
    if [ -d "$dir" ] && [ "$(cat "$dir.inputs" 2>/dev/null)" = "$want" ] && [ "$force" = 0 ]; then
        return 0
    fi
    if ! command -v debootstrap >/dev/null; then
        say "installing debootstrap with apt"
        # A fresh machine's package lists may be stale: update once and retry before giving up.
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null 2>&1 || {
            apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
        } || die "apt-get install debootstrap failed"
    fi
    pkgs="$(suite_packages "$suite")"
    tmp="$dir.new"
    bootstrapping="$tmp"
    log="$cache/logs/debootstrap-$suite.log"
    unmount_under "$tmp"
    rm -rf "$tmp"
    mkdir -p "$cache/debs/$suite" "$cache/logs"
    say "debootstrap $suite from $mirror with: $pkgs (log: $log)"
    start=$SECONDS
    # Two stages, so that a policy-rc.d is in place before any package's maintainer script runs:
    # no server may start inside the chroot (it would share this machine's network and ports).
    if ! debootstrap --foreign --variant=minbase --include="$pkgs" --cache-dir="$cache/debs/$suite" \
        "$suite" "$tmp" "$mirror" >"$log" 2>&1; then
        tail -n 15 "$log" >&2
        die "debootstrap (first stage) of suite '$suite' failed; packages asked for: $pkgs"
    fi
    printf '#!/bin/sh\n# Starting services is not allowed in an image build.\nexit 101\n' >"$tmp/usr/sbin/policy-rc.d"
    chmod 755 "$tmp/usr/sbin/policy-rc.d"
    if ! chroot "$tmp" /debootstrap/debootstrap --second-stage >>"$log" 2>&1; then
        unmount_under "$tmp"
        tail -n 15 "$tmp/debootstrap/debootstrap.log" >&2 2>/dev/null || tail -n 15 "$log" >&2
        die "debootstrap (second stage, package configuration) of suite '$suite' failed; packages: $pkgs"
    fi
    unmount_under "$tmp"
    unmount_under "$dir"
    rm -rf "$dir"
    mv "$tmp" "$dir"
    printf '%s\n' "$want" >"$dir.inputs"
    bootstrapping=""
    say "debootstrap $suite done in $((SECONDS - start)) s"
}

ensure_base() {
    local suite="$1" want tag="sessionspec/base:$1" start
    want="$(base_inputs "$suite")"
    # With --force a base is remade once per run, not once per image that sits on it.
    if [ -n "${forced_base[$suite]:-}" ]; then return 0; fi
    if [ "$(label_of "$tag")" = "$want" ] && [ "$force" = 0 ]; then return 0; fi
    ensure_rootfs "$suite" "$want"
    say "importing $cache/rootfs/$suite as $tag"
    start=$SECONDS
    tar -C "$cache/rootfs/$suite" --numeric-owner \
        --exclude='./var/cache/apt/archives/*.deb' --exclude='./var/lib/apt/lists/*' \
        --exclude='./proc/*' --exclude='./sys/*' -c . |
        docker import \
            --change 'LABEL org.sessionspec=1' \
            --change "LABEL org.sessionspec.inputs=$want" \
            --change "LABEL org.sessionspec.suite=$suite" \
            --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
            --change 'ENV LANG=C.UTF-8' \
            --change 'CMD ["/bin/bash"]' \
            - "$tag" >/dev/null || die "docker import of the $suite root filesystem failed"
    forced_base["$suite"]=1
    say "imported $tag in $((SECONDS - start)) s"
}

# --- SecantusDB: pip from PyPI, which a `docker build` step cannot verify here --------------------
# Containers reach PyPI, but outbound TLS is re-signed by an egress proxy whose CA only the host
# trusts, and `docker build` cannot mount it (copying it in would bake it into a layer). So pip
# runs in a throw-away container of the bookworm base with the host's CA bundle mounted
# read-only, and the resulting /opt/secantus goes to the image build as a tar. Nothing of
# SecantusDB is kept in the repository.
ensure_secantus_venv() {
    local version="$1" suite="$2" want out ca start
    want="$(printf 'pin=SecantusDB==%s\nbase=%s\n' "$version" "$(base_inputs "$suite")" | hash_text)"
    out="$cache/secantus/secantus-$version.tar"
    if [ -f "$out" ] && [ "$(cat "$out.inputs" 2>/dev/null)" = "$want" ] && [ "$force" = 0 ]; then
        return 0
    fi
    mkdir -p "$cache/secantus"
    ca=/etc/ssl/certs/ca-certificates.crt
    [ -f "$ca" ] || die "no CA bundle at $ca for pip inside the container"
    say "pip install SecantusDB==$version into /opt/secantus (in a sessionspec/base:$suite container)"
    start=$SECONDS
    if ! docker run --rm --label org.sessionspec=1 --network host \
        -v "$ca:/run/host-ca.crt:ro" -v "$cache/secantus:/out" \
        -e PIP_CERT=/run/host-ca.crt -e PIP_DISABLE_PIP_VERSION_CHECK=1 \
        ${PIP_INDEX_URL:+-e PIP_INDEX_URL="$PIP_INDEX_URL"} \
        "sessionspec/base:$suite" sh -euc '
            python3 -m venv /opt/secantus
            /opt/secantus/bin/pip install --quiet --no-cache-dir "SecantusDB==$1"
            /opt/secantus/bin/python -c "import secantus, pymongo"
            tar -C / -cf "/out/secantus-$1.tar.new" opt/secantus' sh "$version" \
        >"$cache/logs/secantus-pip.log" 2>&1; then
        tail -n 15 "$cache/logs/secantus-pip.log" >&2
        die "pip install SecantusDB==$version failed in the $suite base (needs PyPI over the host's network)"
    fi
    mv "$out.new" "$out"
    printf '%s\n' "$want" >"$out.inputs"
    say "SecantusDB venv ready in $((SECONDS - start)) s ($(du -h "$out" | cut -f1))"
}

# --- one server image --------------------------------------------------------------------------
build_image() {
    local name="$1" suite server version dir want tag="sessionspec/$1" ctx log start
    suite="$(suite_of "$name")" || die "'$name' is not a local image in $matrix (see --list)"
    [ "$suite" != "-" ] || die "'$name' has no Debian suite in $matrix; build.sh only builds Debian-based images"
    server="${name%%:*}" version="${name#*:}"
    dir="$here/$(recipe_dir "$name")"
    want="$(image_inputs "$name")"
    if [ "$(label_of "$tag")" = "$want" ] && [ "$force" = 0 ]; then
        say "$tag is up to date"
        return 0
    fi
    start=$SECONDS
    ensure_base "$suite"
    ctx="$(mktemp -d)"
    contexts+=("$ctx")
    cp -a "$dir/." "$ctx/"
    if [ "$server" = secantus ]; then
        ensure_secantus_venv "$version" "$suite"
        ln "$cache/secantus/secantus-$version.tar" "$ctx/secantus-venv.tar" 2>/dev/null ||
            cp "$cache/secantus/secantus-$version.tar" "$ctx/secantus-venv.tar"
    fi
    log="$cache/logs/image-${name/:/-}.log"
    say "building $tag from sessionspec/base:$suite (log: $log)"
    local args=(--build-arg "BASE=sessionspec/base:$suite" --build-arg "VERSION=$version")
    # One Dockerfile serves Redis and Valkey; only it takes SERVER.
    if [ "$(recipe_dir "$name")" = redis ]; then args+=(--build-arg "SERVER=$server"); fi
    if ! docker build --force-rm --pull=false \
        --label org.sessionspec=1 --label "org.sessionspec.inputs=$want" \
        --label "org.sessionspec.server=$name" "${args[@]}" -t "$tag" "$ctx" >"$log" 2>&1; then
        rm -rf "$ctx"
        tail -n 15 "$log" >&2
        die "docker build of $tag failed (suite $suite, recipe $dir)"
    fi
    rm -rf "$ctx"
    built+=("$tag")
    say "built $tag in $((SECONDS - start)) s"
}

# --- main --------------------------------------------------------------------------------------
mirror="$(debian_mirror)"

if [ "$list" = 1 ]; then
    engine=1
    docker info >/dev/null 2>&1 || engine=0
    printf '%-22s %-9s %s\n' NAME SUITE STATE
    for e in "${entries[@]}"; do
        name="$(entry_name "$e")" state="engine not running"
        if [ "$engine" = 1 ]; then
            have="$(label_of "sessionspec/$name")"
            if [ -z "$have" ]; then state=missing
            elif [ "$have" = "$(image_inputs "$name")" ]; then state="up to date"
            else state="stale (inputs changed)"; fi
        fi
        printf '%-22s %-9s %s\n' "$name" "$(entry_suite "$e")" "$state"
    done
    exit 0
fi

[ "$(id -u)" -eq 0 ] || die "must run as root (debootstrap, chroot and the docker socket need it)"
if [ "${#wanted[@]}" -eq 0 ]; then
    for e in "${entries[@]}"; do wanted+=("$(entry_name "$e")"); done
fi
for name in "${wanted[@]}"; do
    suite_of "$name" >/dev/null || die "'$name' is not a local image in $matrix (see --list)"
done

export DOCKER_HOST
DOCKER_HOST="$("$(dirname "$here")/docker-engine.sh")"

mkdir -p "$cache/logs"
exec 8>"$cache/.lock"
flock -w 1800 8 || die "another build.sh holds $cache/.lock"

declare -A forced_base=()
built=() contexts=() bootstrapping=""
# On any exit (an error, Ctrl-C): no mount may stay under a half-made root filesystem, and no
# temporary build context may stay behind. The half-made rootfs itself is redone next time.
on_exit() {
    if [ -n "$bootstrapping" ]; then unmount_under "$bootstrapping"; fi
    if [ "${#contexts[@]}" -gt 0 ]; then rm -rf "${contexts[@]}"; fi
}
trap on_exit EXIT
trap 'say "interrupted"; exit 130' INT
trap 'say "terminated"; exit 143' TERM
total_start=$SECONDS
for name in "${wanted[@]}"; do
    build_image "$name"
done
# Re-tagging leaves the previous image dangling; remove only dangling images that carry our label.
if [ "${#built[@]}" -gt 0 ]; then
    docker image prune --force --filter label=org.sessionspec=1 >/dev/null
fi
say "done in $((SECONDS - total_start)) s: ${#built[@]} built, $((${#wanted[@]} - ${#built[@]})) already up to date"
