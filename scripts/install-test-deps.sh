#!/bin/sh
# Installs what serin's integration tests need: Debian's `prometheus` package, which
# provides `prometheus` and `promtool` (tests backfill a TSDB with promtool and run a
# throwaway Prometheus on a loopback port; see tests/support/prometheus.rs).
#
# Idempotent: when both commands are already on PATH it changes nothing (no apt-get
# update either). Non-interactive: safe as root in CI with no stdin. Never starts the
# packaged daemon: a policy-rc.d that denies service starts is in place during the
# install (containers have no init to stop it again) and is removed afterwards; one
# that was there before is put back.
set -eu

log() { printf 'install-test-deps: %s\n' "$*"; }

missing=""
for tool in prometheus promtool; do
    command -v "$tool" >/dev/null 2>&1 || missing="$missing $tool"
done

if [ -z "$missing" ]; then
    log "already present: $(command -v prometheus) ($(prometheus --version 2>&1 | head -n 1)), $(command -v promtool)"
    log "nothing to do"
    exit 0
fi
log "missing:$missing"

if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        log "not root: re-running with sudo"
        exec sudo -n sh "$0" "$@"
    fi
    log "error: must run as root (or with passwordless sudo) to install the Debian package 'prometheus'" >&2
    exit 1
fi

if ! command -v apt-get >/dev/null 2>&1; then
    log "error: apt-get not found; install Prometheus >= 2.39 (prometheus and promtool) from https://prometheus.io/download/ and put both on PATH" >&2
    exit 1
fi

policy=/usr/sbin/policy-rc.d
backup=""
restore_policy() {
    rm -f "$policy"
    if [ -n "$backup" ]; then
        mv "$backup" "$policy"
        log "restored the previous $policy"
    else
        log "removed $policy"
    fi
}
if [ -e "$policy" ]; then
    backup="$(mktemp /usr/sbin/policy-rc.d.serin-backup.XXXXXX)"
    cp -p "$policy" "$backup"
fi
trap restore_policy EXIT
trap 'exit 130' INT TERM
printf '#!/bin/sh\n# installed by serin scripts/install-test-deps.sh: no service starts\nexit 101\n' > "$policy"
chmod 755 "$policy"
log "installed $policy (exit 101) so the package does not start a daemon"

export DEBIAN_FRONTEND=noninteractive
log "apt-get update"
apt-get update -q </dev/null
log "apt-get install prometheus"
apt-get install -y -q --no-install-recommends prometheus </dev/null

for tool in prometheus promtool; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        log "error: $tool is still not on PATH after installing the package" >&2
        exit 1
    fi
done
log "installed: $(command -v prometheus) ($(prometheus --version 2>&1 | head -n 1)), $(command -v promtool)"
