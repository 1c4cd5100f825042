#!/usr/bin/env bash
# Install what the local stack (nexus.stack) runs: Mosquitto and PostgreSQL.
#
# Installs only; starts nothing (the stack runs its own private instances, see
# `nexus stack up`). Idempotent and silent when everything is present. Debian/Ubuntu only.
set -euo pipefail

PACKAGES=(mosquitto mosquitto-clients postgresql)

have_mosquitto() {
    command -v mosquitto >/dev/null 2>&1 || [[ -x /usr/sbin/mosquitto ]]
}

have_initdb() {
    # Debian keeps initdb off PATH, in /usr/lib/postgresql/VERSION/bin.
    command -v initdb >/dev/null 2>&1 && return 0
    local candidate
    for candidate in /usr/lib/postgresql/*/bin/initdb; do
        [[ -x "$candidate" ]] && return 0
    done
    return 1
}

if have_mosquitto && have_initdb; then
    exit 0
fi

if [[ "$(id -u)" -ne 0 ]]; then
    echo "bootstrap: Mosquitto and/or PostgreSQL are missing. Install them with:" >&2
    echo "    sudo apt-get update && sudo apt-get install -y --no-install-recommends ${PACKAGES[*]}" >&2
    exit 1
fi

if ! command -v apt-get >/dev/null 2>&1; then
    echo "bootstrap: apt-get not found; install ${PACKAGES[*]} with your package manager" >&2
    exit 1
fi

echo "bootstrap: installing ${PACKAGES[*]}" >&2
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${PACKAGES[@]}" >/dev/null

if ! have_mosquitto || ! have_initdb; then
    echo "bootstrap: installed ${PACKAGES[*]} but mosquitto or initdb is still missing" >&2
    exit 1
fi
