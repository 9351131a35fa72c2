# Shared set-up steps for scripts/demo and scripts/test (sourced, not run).

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

apt_updated=""
apt_install() {
  if [ -z "$apt_updated" ]; then as_root apt-get update -qq >/dev/null; apt_updated=1; fi
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

# A virtualenv in .venv with wirewatch installed (editable); $1 = extra ("test") or empty.
ensure_venv() {
  local extra="${1:-}"
  local stamp=".venv/.installed-${extra:-base}"
  if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv 2>/dev/null || { apt_install python3-venv; python3 -m venv .venv; }
  fi
  if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
    # An old pip skips lxml's extra that trafilatura needs; upgrade first.
    echo "installing wirewatch into .venv (log: .venv/install.log)" >&2
    {
      .venv/bin/python -m pip install --upgrade pip
      if [ -n "$extra" ]; then .venv/bin/pip install -e ".[$extra]"; else .venv/bin/pip install -e .; fi
    } > .venv/install.log 2>&1 || { tail -30 .venv/install.log >&2; return 1; }
    touch "$stamp"
  fi
}

ensure_redis_server() {
  command -v redis-server >/dev/null || apt_install redis-server
  # Debian starts a system-wide instance on 6379; the tests start their own on free ports.
}

ensure_chromium() {
  command -v chromium >/dev/null || apt_install chromium
}
