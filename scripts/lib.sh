# Shared set-up steps for scripts/demo and scripts/test (sourced, not run).

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

apt_updated=""
apt_install() {
  echo "installing Debian packages: $* (apt-get, as root)" >&2
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
    echo "installing wirewatch${extra:+ with its $extra extras} into .venv (about a minute; log: .venv/install.log)" >&2
    : > .venv/install.log
    with_progress .venv/install.log .venv/bin/python -m pip install --upgrade pip || { tail -30 .venv/install.log >&2; return 1; }
    if [ -n "$extra" ]; then set -- -e ".[$extra]"; else set -- -e .; fi
    with_progress .venv/install.log .venv/bin/pip install "$@" || { tail -30 .venv/install.log >&2; return 1; }
    touch "$stamp"
  fi
}

# Run a command with its output appended to a log, showing what it is doing meanwhile: pip's latest
# "Collecting x" / "Installing" line, redrawn in place on a terminal, one line every 10 s otherwise.
with_progress() {
  local log="$1"; shift
  "$@" >> "$log" 2>&1 &
  local pid=$! last="" now shown=0 tick=0
  while kill -0 "$pid" 2>/dev/null; do
    now=$(grep -E '^(Collecting|Downloading|Building|Installing|Successfully)' "$log" 2>/dev/null | tail -1 | cut -c1-100)
    if [ -t 2 ]; then
      [ -n "$now" ] && printf '\r\033[K  %s' "$now" >&2 && shown=1
    elif [ -n "$now" ] && [ "$now" != "$last" ] && [ $((tick % 10)) -eq 0 ]; then
      echo "  $now" >&2; last="$now"
    fi
    tick=$((tick + 1))
    sleep 1
  done
  [ "$shown" = 1 ] && printf '\r\033[K' >&2
  wait "$pid"
}

ensure_redis_server() {
  command -v redis-server >/dev/null || apt_install redis-server
  # Debian starts a system-wide instance on 6379; the tests start their own on free ports.
}

ensure_chromium() {
  command -v chromium >/dev/null || apt_install chromium
}
