# Sourced by scripts/test, scripts/demo and scripts/bench: install only what is missing.
# Debian packages: chromium and chromium-headless-shell (the browsers Playwright drives: the
# shell headless, the full one headed), dbus + gnome-keyring (a real
# Secret Service), curl and wget (the documented calls with the session and its cookies.txt),
# dash, zsh and fish (the shells `harvest env` quotes for), xvfb (a virtual screen for the
# headed tests), libnss3-tools (certutil: the browser is told about a private CA through an NSS
# database), tinyproxy (a real forward proxy for the network tests). Then a .venv with
# harvester and its dev extra.

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
VENV="$ROOT/.venv"

say() { printf '==> [%3ss] %s\n' "$SECONDS" "$*" >&2; }  # seconds since the script began

have_browser() {
    command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 \
        || command -v google-chrome >/dev/null 2>&1
}

ensure_system_packages() {
    local missing=()
    have_browser || missing+=(chromium)
    # headless logins start in about half the time in Chromium's headless shell (launch.py)
    [ -x /usr/lib/chromium/chromium-headless-shell ] || missing+=(chromium-headless-shell)
    command -v dbus-daemon >/dev/null 2>&1 || missing+=(dbus)
    command -v gnome-keyring-daemon >/dev/null 2>&1 || missing+=(gnome-keyring)
    command -v curl >/dev/null 2>&1 || missing+=(curl)
    command -v wget >/dev/null 2>&1 || missing+=(wget)
    # the shells whose quoting `harvest env` is tested against (bash and dash come with Debian)
    command -v dash >/dev/null 2>&1 || missing+=(dash)
    command -v zsh >/dev/null 2>&1 || missing+=(zsh)
    command -v fish >/dev/null 2>&1 || missing+=(fish)
    command -v Xvfb >/dev/null 2>&1 || missing+=(xvfb)
    command -v certutil >/dev/null 2>&1 || missing+=(libnss3-tools)
    command -v tinyproxy >/dev/null 2>&1 || missing+=(tinyproxy-bin)
    if ! python3 -c 'import sys; assert sys.version_info >= (3, 10)' 2>/dev/null; then
        missing+=(python3)
    fi
    if ! python3 -c 'import venv, ensurepip' 2>/dev/null; then
        missing+=(python3-venv)
    fi
    [ ${#missing[@]} -eq 0 ] && return 0
    say "installing Debian packages: ${missing[*]}"
    local sudo=()
    if [ "$(id -u)" -ne 0 ]; then
        command -v sudo >/dev/null 2>&1 || { echo "need root (or sudo) to apt-get install ${missing[*]}" >&2; exit 1; }
        sudo=(sudo)
    fi
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
}

ensure_venv() {
    local stamp="$VENV/.harvester-stamp" want
    want="$(cat "$ROOT/pyproject.toml" | sha256sum | cut -d' ' -f1)"
    if [ -x "$VENV/bin/python" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
        return 0
    fi
    say "setting up $VENV (harvester and its dev extra)"
    [ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
    "$VENV/bin/python" -m pip install -q --upgrade pip >/dev/null
    "$VENV/bin/python" -m pip install -q -e "$ROOT[dev]"
    echo "$want" > "$stamp"
}

# An editable install is never byte-compiled, and with PYTHONDONTWRITEBYTECODE set (as on these
# machines) every `harvest` process compiles harvester's modules again: ~90 ms of each call,
# measured. Compile them once per run (unchanged files are skipped; stale ones are only slower).
compile_sources() {
    "$VENV/bin/python" -m compileall -q "$ROOT/harvester" >/dev/null
}

setup_all() {
    ensure_system_packages
    ensure_venv
    compile_sources
}
