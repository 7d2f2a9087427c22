# Sourced by the scripts here that are given server URLs (services.sh, mongo/secantus.sh).
#
# Credentials never reach a log line: a given URL is shown by its address alone (scheme, host,
# port), so no script needs a redactor of its own (the one redactor is the harness's,
# sessionspec_server_store::redact_url). The user info runs to the last `@` before the first `/`
# or `?`, so a password holding `@` or `:` is dropped whole.
address() {
    local scheme=${1%%://*} rest=${1#*://}
    local authority=${rest%%[/?]*}
    printf '%s://%s' "$scheme" "${authority##*@}"
}
