#!/usr/bin/env bash
# Finds or starts the PostgreSQL, MariaDB and Redis servers the suite needs and prints their URLs
# as `export` lines (stdout only; everything else goes to stderr). It must never stop, reconfigure
# or delete anything it did not start itself, and never skip a backend silently.
set -euo pipefail

usage() {
    cat >&2 <<'EOF'
usage: services.sh [up] [--private] [postgres|mysql|redis ...]
       services.sh stop | status

  up (default)  find or start each server, print `export SESSIONSPEC_*_URL=...` on stdout:
                  eval "$(harness/backends/services.sh)"
                Order per server: an explicit SESSIONSPEC_*_URL (verified, never started);
                the local service on its standard port (started again if installed but
                stopped); a private server started from installed binaries in a temp dir.
  --private     skip the local services and start private servers in temp dirs
                (same as SESSIONSPEC_SERVICES_MODE=private)
  stop          stop the private servers this script started and remove their temp dirs
  status        show what this script started and whether it still answers

Environment: SESSIONSPEC_POSTGRES_URL, SESSIONSPEC_MYSQL_URL, SESSIONSPEC_REDIS_URL,
SESSIONSPEC_SERVICES_MODE=auto|private, SESSIONSPEC_SERVICES_STATE_DIR,
SESSIONSPEC_SERVICES_TIMEOUT (seconds to wait for a server to answer, default 60).
On failure the last stdout line is `false`, so `eval "$(services.sh)"` fails too.
Exit codes: 0 all servers answer; 1 a server is missing or does not answer; 2 usage error.
EOF
}

readonly STATE_DIR="${SESSIONSPEC_SERVICES_STATE_DIR:-${XDG_RUNTIME_DIR:-${TMPDIR:-/tmp}}/sessionspec-$(id -u)/services}"
readonly TMP_BASE="${TMPDIR:-/tmp}"
readonly READY_TIMEOUT="${SESSIONSPEC_SERVICES_TIMEOUT:-60}"
readonly PROBE_TIMEOUT=5

log() { printf 'services: %s\n' "$*" >&2; }

# `address URL`: the URL without its credentials, for log lines.
source "$(dirname "${BASH_SOURCE[0]}")/address.sh"

# Single-quoted for `eval`.
emit_export() {
    local value=${2//\'/\'\\\'\'}
    printf "export %s='%s'\n" "$1" "$value"
}

is_root() { [[ $(id -u) -eq 0 ]]; }

# First match of NAME on PATH or in the usual sbin/versioned directories.
find_bin() {
    local name candidate
    for name in "$@"; do
        if candidate=$(command -v "$name" 2>/dev/null); then
            printf '%s\n' "$candidate"
            return 0
        fi
        for candidate in /usr/sbin/"$name" /usr/local/sbin/"$name" /usr/libexec/"$name"; do
            if [[ -x $candidate ]]; then
                printf '%s\n' "$candidate"
                return 0
            fi
        done
    done
    return 1
}

# PostgreSQL's server binaries live in a versioned directory on Debian; prefer PATH, then the
# newest versioned directory, then pg_config's answer.
find_pg_bin() {
    local name=$1 candidate dir
    if candidate=$(command -v "$name" 2>/dev/null); then
        printf '%s\n' "$candidate"
        return 0
    fi
    while IFS= read -r dir; do
        if [[ -x $dir/$name ]]; then
            printf '%s\n' "$dir/$name"
            return 0
        fi
    done < <(compgen -G '/usr/lib/postgresql/*/bin' | sort -V -r)
    if command -v pg_config >/dev/null 2>&1; then
        candidate="$(pg_config --bindir)/$name"
        if [[ -x $candidate ]]; then
            printf '%s\n' "$candidate"
            return 0
        fi
    fi
    return 1
}

missing() {
    log "MISSING: $1 not found (install $2); cannot start a private $3 server"
    return 1
}

# A port nothing listens on, from the dynamic range. The server binds it moments later, so a
# race with another process is possible but unlikely; startup then fails loudly with its log.
free_port() {
    local port
    for _ in $(seq 1 50); do
        port=$((20000 + RANDOM % 40000))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            printf '%s\n' "$port"
            return 0
        fi
    done
    log "no free port found after 50 attempts"
    return 1
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# wait_ready SECONDS PID_OR_EMPTY LABEL COMMAND...: polls COMMAND until it succeeds, the
# deadline passes, or the process PID (if given) has exited.
wait_ready() {
    local seconds=$1 pid=$2 label=$3
    shift 3
    local deadline=$((SECONDS + seconds))
    while ((SECONDS < deadline)); do
        if "$@" >/dev/null 2>&1; then
            return 0
        fi
        if [[ -n $pid ]] && ! alive "$pid"; then
            log "$label exited before it answered"
            return 1
        fi
        sleep 0.2
    done
    log "$label did not answer within ${seconds}s"
    return 1
}

show_log() {
    local file=$1
    [[ -f $file ]] || return 0
    log "last lines of $file:"
    tail -n 15 "$file" | sed 's/^/    /' >&2
}

# ---------------------------------------------------------------------------------------------
# Protocol probes: each one runs a real query, bounded by PROBE_TIMEOUT.

probe_postgres_url() {
    local psql
    psql=$(find_pg_bin psql) || return 2
    [[ $(PGCONNECT_TIMEOUT=3 timeout "$PROBE_TIMEOUT" "$psql" "$1" -XAtqc 'SELECT 1' 2>/dev/null) == 1 ]]
}

# mysql://user[:password]@host[:port]/database -> MY_USER MY_PASS MY_HOST MY_PORT MY_DB
parse_mysql_url() {
    local re='^(mysql|mariadb)://(([^:@/]*)(:([^@/]*))?@)?([^:/?]+)(:([0-9]+))?(/([^?]*))?'
    [[ $1 =~ $re ]] || return 1
    MY_USER=${BASH_REMATCH[3]:-root}
    MY_PASS=${BASH_REMATCH[5]}
    MY_HOST=${BASH_REMATCH[6]}
    MY_PORT=${BASH_REMATCH[8]:-3306}
    MY_DB=${BASH_REMATCH[10]}
}

probe_mysql_url() {
    local client
    client=$(find_bin mariadb mysql) || return 2
    parse_mysql_url "$1" || return 1
    [[ $(MYSQL_PWD=$MY_PASS timeout "$PROBE_TIMEOUT" "$client" --no-defaults --protocol=TCP \
        --connect-timeout=3 -h "$MY_HOST" -P "$MY_PORT" -u "$MY_USER" ${MY_DB:+-D "$MY_DB"} \
        -N -B -e 'SELECT 1' 2>/dev/null) == 1 ]]
}

probe_redis_url() {
    local client
    client=$(find_bin redis-cli) || return 2
    [[ $(timeout "$PROBE_TIMEOUT" "$client" --no-auth-warning -u "$1" PING 2>/dev/null) == PONG ]]
}

client_package() {
    case $1 in
        postgres) echo "psql (package postgresql-client)" ;;
        mysql) echo "mariadb or mysql client (package mariadb-client)" ;;
        redis) echo "redis-cli (package redis-tools)" ;;
    esac
}

# ---------------------------------------------------------------------------------------------
# State of what this script started: one file per server in STATE_DIR.

state_file() { printf '%s/%s.state\n' "$STATE_DIR" "$1"; }

write_state() {
    local svc=$1
    shift
    mkdir -p "$STATE_DIR"
    chmod 700 "$STATE_DIR"
    printf '%s\n' "$@" >"$(state_file "$svc").tmp"
    mv "$(state_file "$svc").tmp" "$(state_file "$svc")"
}

# Loads KIND PID DIR PORT URL from a state file into S_* variables.
read_state() {
    local file key value
    file=$(state_file "$1")
    [[ -f $file ]] || return 1
    S_KIND='' S_PID='' S_DIR='' S_PORT='' S_URL=''
    while IFS='=' read -r key value; do
        case $key in
            kind) S_KIND=$value ;;
            pid) S_PID=$value ;;
            dir) S_DIR=$value ;;
            port) S_PORT=$value ;;
            url) S_URL=$value ;;
        esac
    done <"$file"
}

# True while PID runs. An exited server can linger as a zombie until init reaps it.
alive() {
    local stat
    kill -0 "$1" 2>/dev/null || return 1
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 0
    stat=${stat##*) }
    [[ ${stat:0:1} != Z ]]
}

# True when PID is alive and is the server started in DIR (guards against pid reuse).
owns_process() {
    local pid=$1 dir=$2
    [[ -n $pid && -n $dir ]] || return 1
    alive "$pid" || return 1
    [[ -d /proc/$pid ]] || return 0
    # Redis rewrites its title, so also accept a working directory inside DIR.
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$dir" && return 0
    [[ $(readlink "/proc/$pid/cwd" 2>/dev/null) == "$dir"* ]]
}

# A private server from an earlier run that still answers is reused.
reuse_private() {
    local svc=$1
    read_state "$svc" || return 1
    [[ $S_KIND == private ]] || return 1
    owns_process "$S_PID" "$S_DIR" || return 1
    "probe_${svc}_url" "$S_URL" || return 1
    log "$svc: reusing the private server started earlier (pid $S_PID, port $S_PORT, $S_DIR)"
    URL=$S_URL
}

# ---------------------------------------------------------------------------------------------
# Local services installed on the machine (../../../shared/notes/environment.md).

# The local PostgreSQL cluster on port 5432, when the machine has one that is down.
restart_local_postgres() {
    local ctl cluster version name port status
    ctl=$(command -v pg_ctlcluster 2>/dev/null) || return 1
    if command -v pg_lsclusters >/dev/null 2>&1; then
        while read -r version name port status _; do
            if [[ $port == 5432 && $status == down* ]]; then
                cluster="$version $name"
                break
            fi
        done < <(pg_lsclusters -h 2>/dev/null)
    elif [[ -d /etc/postgresql ]]; then
        version=$(compgen -G '/etc/postgresql/*/main' | sort -V | tail -n 1 | cut -d/ -f4)
        [[ -n $version ]] && cluster="$version main"
    fi
    [[ -n ${cluster:-} ]] || return 1
    log "postgres: the local cluster $cluster is installed but stopped; starting it"
    # shellcheck disable=SC2086 # "version name" splits into two arguments on purpose
    "$ctl" --skip-systemctl-redirect $cluster start >&2 9>&- || return 1
    wait_ready "$READY_TIMEOUT" '' "postgres (local cluster $cluster)" \
        probe_postgres_url "postgres://postgres@127.0.0.1:5432/postgres"
}

restart_local_redis() {
    local server
    server=$(find_bin redis-server) || return 1
    [[ -f /etc/redis/redis.conf && -d /var/lib/redis && -w /var/lib/redis ]] || return 1
    log "redis: the local service is installed but stopped; starting it on port 6379"
    mkdir -p /var/log/redis
    "$server" --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
        --dir /var/lib/redis --logfile /var/log/redis/ci.log >&2 9>&- || return 1
    wait_ready "$READY_TIMEOUT" '' "redis (local service)" probe_redis_url "redis://127.0.0.1:6379/"
}

restart_local_mysql() {
    local server
    server=$(find_bin mariadbd) || return 1
    [[ -d /var/lib/mysql/mysql ]] && is_root && command -v start-stop-daemon >/dev/null 2>&1 || return 1
    log "mysql: the local MariaDB service is installed but stopped; starting it"
    start-stop-daemon --start --oknodo --background --exec "$server" >&2 9>&- || return 1
    wait_ready "$READY_TIMEOUT" '' "mysql (local service)" probe_mysql_url "mysql://root@127.0.0.1:3306/test"
}

# ---------------------------------------------------------------------------------------------
# Private servers in temp dirs, from installed binaries.

# The account a private PostgreSQL or MariaDB runs as: the current user, or, under root (which
# both servers refuse or discourage), the distribution's service account.
service_user() {
    local preferred=$1 user
    if ! is_root; then
        id -un
        return 0
    fi
    for user in "$preferred" nobody; do
        if id -u "$user" >/dev/null 2>&1; then
            printf '%s\n' "$user"
            return 0
        fi
    done
    return 1
}

# Prefix that runs a command as USER without an intermediate process (so $! is the server).
as_user() {
    local user=$1
    if is_root && [[ $user != root ]]; then
        printf '%s\0' setpriv --reuid="$user" --regid="$(id -g "$user")" --init-groups --
    fi
}

start_private_postgres() {
    local initdb postgres psql dir port user pid
    initdb=$(find_pg_bin initdb) || missing initdb "the PostgreSQL server, package postgresql" postgres || return 1
    postgres=$(find_pg_bin postgres) || missing postgres "the PostgreSQL server, package postgresql" postgres || return 1
    psql=$(find_pg_bin psql) || missing psql "package postgresql-client" postgres || return 1
    user=$(service_user postgres) || { log "postgres: running as root and no 'postgres' or 'nobody' account to run the server as"; return 1; }
    local -a run_as=()
    mapfile -d '' -t run_as < <(as_user "$user")

    dir=$(mktemp -d "$TMP_BASE/sessionspec-postgres.XXXXXX") || return 1
    chmod 700 "$dir"
    is_root && chown "$user" "$dir"
    port=$(free_port) || return 1
    log "postgres: starting a private server from $postgres on port $port in $dir (as $user)"
    if ! "${run_as[@]}" "$initdb" -D "$dir/data" -U postgres -A trust -E UTF8 --no-sync \
        >"$dir/initdb.log" 2>&1; then
        log "postgres: initdb failed"
        show_log "$dir/initdb.log"
        return 1
    fi
    setsid "${run_as[@]}" "$postgres" -D "$dir/data" -k "$dir" -p "$port" \
        -c listen_addresses=127.0.0.1 </dev/null >"$dir/postgres.log" 2>&1 9>&- &
    pid=$!
    write_state postgres kind=private "pid=$pid" "dir=$dir" "port=$port" \
        "url=postgres://postgres@127.0.0.1:$port/postgres"
    if ! wait_ready "$READY_TIMEOUT" "$pid" "postgres (private, port $port)" \
        probe_postgres_url "postgres://postgres@127.0.0.1:$port/postgres"; then
        show_log "$dir/postgres.log"
        return 1
    fi
    PGCONNECT_TIMEOUT=3 timeout "$PROBE_TIMEOUT" "$psql" -X -q -h 127.0.0.1 -p "$port" -U postgres \
        -d postgres -c 'CREATE DATABASE test' >&2 || return 1
    URL="postgres://postgres@127.0.0.1:$port/postgres"
}

start_private_redis() {
    local server dir port pid
    server=$(find_bin redis-server) || missing redis-server "package redis-server" redis || return 1
    find_bin redis-cli >/dev/null || missing redis-cli "package redis-tools" redis || return 1
    dir=$(mktemp -d "$TMP_BASE/sessionspec-redis.XXXXXX") || return 1
    chmod 700 "$dir"
    port=$(free_port) || return 1
    log "redis: starting a private server from $server on port $port in $dir"
    setsid "$server" --port "$port" --bind 127.0.0.1 --save "" --appendonly no --dir "$dir" \
        --daemonize no --logfile "$dir/redis.log" </dev/null >/dev/null 2>&1 9>&- &
    pid=$!
    write_state redis kind=private "pid=$pid" "dir=$dir" "port=$port" "url=redis://127.0.0.1:$port/"
    if ! wait_ready "$READY_TIMEOUT" "$pid" "redis (private, port $port)" \
        probe_redis_url "redis://127.0.0.1:$port/"; then
        show_log "$dir/redis.log"
        return 1
    fi
    URL="redis://127.0.0.1:$port/"
}

start_private_mysql() {
    local server install client dir port user pid
    server=$(find_bin mariadbd mysqld) || missing mariadbd "package mariadb-server" mysql || return 1
    install=$(find_bin mariadb-install-db mysql_install_db) || missing mariadb-install-db "package mariadb-server" mysql || return 1
    client=$(find_bin mariadb mysql) || missing "mariadb (client)" "package mariadb-client" mysql || return 1
    user=$(service_user mysql) || { log "mysql: running as root and no 'mysql' or 'nobody' account to run the server as"; return 1; }
    dir=$(mktemp -d "$TMP_BASE/sessionspec-mysql.XXXXXX") || return 1
    chmod 700 "$dir"
    is_root && chown "$user" "$dir"
    port=$(free_port) || return 1
    log "mysql: starting a private MariaDB from $server on port $port in $dir (as $user)"
    local -a user_opt=()
    is_root && user_opt=(--user="$user")
    # --no-defaults keeps the machine's /etc/mysql settings (port 3306, its socket and datadir)
    # out of the private server.
    if ! "$install" --no-defaults --datadir="$dir/data" "${user_opt[@]}" \
        --auth-root-authentication-method=normal --skip-test-db >"$dir/install-db.log" 2>&1; then
        log "mysql: $install failed"
        show_log "$dir/install-db.log"
        return 1
    fi
    setsid "$server" --no-defaults --datadir="$dir/data" --socket="$dir/sock" --port="$port" \
        --bind-address=127.0.0.1 --pid-file="$dir/mariadbd.pid" --log-error="$dir/mariadbd.err" \
        "${user_opt[@]}" </dev/null >"$dir/mariadbd.out" 2>&1 9>&- &
    pid=$!
    write_state mysql kind=private "pid=$pid" "dir=$dir" "port=$port" "url=mysql://root@127.0.0.1:$port/test"
    local -a via_socket=(timeout "$PROBE_TIMEOUT" "$client" --no-defaults -S "$dir/sock" -u root)
    if ! wait_ready "$READY_TIMEOUT" "$pid" "mysql (private, port $port)" "${via_socket[@]}" -e 'SELECT 1'; then
        show_log "$dir/mariadbd.err"
        return 1
    fi
    # The installer's root accounts are tied to localhost; TCP clients connect from 127.0.0.1.
    "${via_socket[@]}" -e "CREATE USER IF NOT EXISTS 'root'@'127.0.0.1';
        GRANT ALL PRIVILEGES ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION;
        CREATE DATABASE IF NOT EXISTS test;" >&2 || return 1
    if ! probe_mysql_url "mysql://root@127.0.0.1:$port/test"; then
        log "mysql: the private server answers on its socket but not on 127.0.0.1:$port"
        return 1
    fi
    URL="mysql://root@127.0.0.1:$port/test"
}

# ---------------------------------------------------------------------------------------------

declare -rA ENV_NAME=([postgres]=SESSIONSPEC_POSTGRES_URL [mysql]=SESSIONSPEC_MYSQL_URL [redis]=SESSIONSPEC_REDIS_URL)
declare -rA LOCAL_URL=(
    [postgres]="postgres://postgres@127.0.0.1:5432/postgres"
    [mysql]="mysql://root@127.0.0.1:3306/test"
    [redis]="redis://127.0.0.1:6379/"
)
declare -rA LOCAL_PORT=([postgres]=5432 [mysql]=3306 [redis]=6379)

# Sets URL for one server, or returns non-zero after saying why.
find_or_start() {
    local svc=$1 mode=$2 explicit rc
    local env_name=${ENV_NAME[$svc]}
    explicit=${!env_name:-}
    if [[ -n $explicit ]]; then
        rc=0
        "probe_${svc}_url" "$explicit" || rc=$?
        if ((rc == 2)); then
            log "MISSING: $(client_package "$svc") is needed to check $env_name"
            return 1
        elif ((rc != 0)); then
            log "$svc: $env_name (at $(address "$explicit")) was given but does not answer a query; nothing started for it"
            return 1
        fi
        log "$svc: using $env_name (at $(address "$explicit"); answers)"
        URL=$explicit
        return 0
    fi

    if [[ $mode == auto ]]; then
        rc=0
        "probe_${svc}_url" "${LOCAL_URL[$svc]}" || rc=$?
        if ((rc == 0)); then
            log "$svc: the local service answers at ${LOCAL_URL[$svc]}"
            URL=${LOCAL_URL[$svc]}
            return 0
        fi
        if ((rc != 2)) && ! port_open "${LOCAL_PORT[$svc]}"; then
            if "restart_local_$svc"; then
                date -u +%FT%TZ >"$STATE_DIR/$svc.local-restarted"
                URL=${LOCAL_URL[$svc]}
                return 0
            fi
        elif ((rc != 2)); then
            log "$svc: port ${LOCAL_PORT[$svc]} is open but does not answer as expected; using a private server"
        fi
    fi

    reuse_private "$svc" && return 0
    "start_private_$svc"
}

cmd_up() {
    local mode=${SESSIONSPEC_SERVICES_MODE:-auto} svc failed=() wanted=()
    while (($#)); do
        case $1 in
            --private) mode=private ;;
            postgres | mysql | redis) wanted+=("$1") ;;
            -h | --help) usage; exit 0 ;;
            *) usage; exit 2 ;;
        esac
        shift
    done
    case $mode in
        auto | private) ;;
        *) log "SESSIONSPEC_SERVICES_MODE must be auto or private, not '$mode'"; exit 2 ;;
    esac
    ((${#wanted[@]})) || wanted=(postgres mysql redis)

    mkdir -p "$STATE_DIR"
    chmod 700 "$STATE_DIR"
    # One run at a time, so two concurrent runs do not both start private servers. Servers are
    # started with fd 9 closed: a server holding it would block every later run.
    exec 9>"$STATE_DIR/lock"
    flock -w "$READY_TIMEOUT" 9 || { log "another services.sh run holds $STATE_DIR/lock"; exit 1; }

    for svc in "${wanted[@]}"; do
        URL=''
        if find_or_start "$svc" "$mode"; then
            emit_export "${ENV_NAME[$svc]}" "$URL"
        else
            failed+=("$svc")
        fi
    done
    if ((${#failed[@]})); then
        log "FAILED: no working server for: ${failed[*]} (see above); 'services.sh stop' stops what was started"
        echo false
        exit 1
    fi
}

# SIGINT is PostgreSQL's fast shutdown; the others stop cleanly on SIGTERM.
stop_one() {
    local svc=$1 sig=TERM deadline
    if [[ -f $STATE_DIR/$svc.local-restarted ]]; then
        log "$svc: the local service on port ${LOCAL_PORT[$svc]} was started again by this script; it is the machine's own service, left running"
        rm -f "$STATE_DIR/$svc.local-restarted"
    fi
    read_state "$svc" || return 0
    [[ $svc == postgres ]] && sig=INT
    if owns_process "$S_PID" "$S_DIR"; then
        log "$svc: stopping the private server (pid $S_PID, port $S_PORT)"
        kill -s "$sig" "$S_PID" 2>/dev/null || true
        deadline=$((SECONDS + 30))
        while alive "$S_PID" && ((SECONDS < deadline)); do
            sleep 0.2
        done
        if alive "$S_PID"; then
            log "$svc: pid $S_PID did not exit within 30s; killing it"
            kill -s KILL "$S_PID" 2>/dev/null || true
        fi
    else
        log "$svc: the private server (pid $S_PID) is no longer running"
    fi
    # Only a directory this script created: its own mktemp name pattern.
    if [[ -n $S_DIR && $(basename "$S_DIR") == sessionspec-"$svc".* && -d $S_DIR ]]; then
        rm -rf -- "$S_DIR"
        log "$svc: removed $S_DIR"
    fi
    rm -f "$(state_file "$svc")"
}

cmd_stop() {
    local svc
    [[ -d $STATE_DIR ]] || { log "nothing was started (no $STATE_DIR)"; return 0; }
    exec 9>"$STATE_DIR/lock"
    flock -w "$READY_TIMEOUT" 9 || { log "another services.sh run holds $STATE_DIR/lock"; exit 1; }
    for svc in postgres mysql redis; do
        stop_one "$svc"
    done
}

cmd_status() {
    local svc state
    for svc in postgres mysql redis; do
        if [[ -f $STATE_DIR/$svc.local-restarted ]]; then
            log "$svc: the local service was started again by this script at $(cat "$STATE_DIR/$svc.local-restarted")"
        fi
        if ! read_state "$svc"; then
            log "$svc: no private server started by this script"
            continue
        fi
        state="does not answer"
        "probe_${svc}_url" "$S_URL" && state="answers"
        log "$svc: private server pid $S_PID port $S_PORT dir $S_DIR: $state at $S_URL"
    done
}

main() {
    local cmd=${1:-up}
    case $cmd in
        up) shift || true; cmd_up "$@" ;;
        stop) cmd_stop ;;
        status) cmd_status ;;
        -h | --help | help) usage ;;
        --private | postgres | mysql | redis) cmd_up "$@" ;;
        *) usage; exit 2 ;;
    esac
}

main "$@"
