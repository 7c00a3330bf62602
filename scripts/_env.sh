# Shared set-up for scripts/serve, scripts/test and scripts/bench (sourced, not run).
# Creates or updates .venv with the project installed; installs the pinned codex on request.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
CODEX_VERSION="0.169.0"
CODEX_PREFIX="$ROOT/.cache/codex"
CODEX_BIN="$CODEX_PREFIX/node_modules/.bin/codex"

say() { printf '%s\n' "$*" >&2; }

apt_get() {
    # apt_get PACKAGE: install a Debian package (root only; `apt-get update` once).
    if [ "$(id -u)" != 0 ]; then
        say "error: the $1 package is required; install it"; exit 1
    fi
    if [ -z "${_APT_UPDATED:-}" ]; then
        apt-get update -qq >/dev/null; _APT_UPDATED=1
    fi
    say "installing $1 ..."
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$1" >/dev/null
}

need() {
    # need CMD PACKAGE: install PACKAGE when CMD is missing.
    command -v "$1" >/dev/null 2>&1 || apt_get "$2"
}

find_python() {
    for py in python3.13 python3.12 python3.11 python3; do
        if command -v "$py" >/dev/null 2>&1 && "$py" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
            echo "$py"; return 0
        fi
    done
    say "error: Python 3.11 or newer is required"; exit 1
}

ensure_venv() {
    # ensure_venv [EXTRAS]: .venv with the project installed (editable), reinstalled when
    # pyproject.toml changes.
    local extras="${1:-}" spec="$ROOT" stamp
    [ -n "$extras" ] && spec="$ROOT[$extras]"
    if [ ! -x "$VENV/bin/python" ]; then
        local py; py="$(find_python)"
        if ! "$py" -m venv "$VENV" 2>/dev/null; then
            rm -rf "$VENV"; apt_get python3-venv; "$py" -m venv "$VENV"
        fi
    fi
    stamp="$VENV/.installed-$(sha256sum "$ROOT/pyproject.toml" | cut -c1-16)-${extras:-base}"
    if [ ! -e "$stamp" ]; then
        say "installing appserver into .venv ..."
        if ! "$VENV/bin/python" -m pip install -q --disable-pip-version-check -e "$spec" \
                >"$VENV/pip-install.log" 2>&1 || ! "$VENV/bin/python" -c 'import appserver'; then
            cat "$VENV/pip-install.log" >&2
            say "error: installing appserver failed (log above, also in .venv/pip-install.log)"; exit 1
        fi
        touch "$stamp"
    fi
}

ensure_codex() {
    # The pinned codex from npm, in a git-ignored cache folder inside the repo.
    if [ -x "$CODEX_BIN" ] && [ "$("$CODEX_BIN" --version 2>/dev/null | awk '{print $NF}')" = "$CODEX_VERSION" ]; then
        return 0
    fi
    need npm npm
    say "installing @openai/codex@$CODEX_VERSION into .cache/codex ..."
    mkdir -p "$CODEX_PREFIX"
    npm install --prefix "$CODEX_PREFIX" --no-audit --no-fund --loglevel=error "@openai/codex@$CODEX_VERSION" >&2
    "$CODEX_BIN" --version >/dev/null || { say "error: the codex binary does not run"; exit 1; }
}
