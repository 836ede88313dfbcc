# Sourced by the scripts: a project virtualenv in .venv, reinstalled only when
# pyproject.toml changes (a stamp file records the hash it was built from).
ensure_venv() {
  local stamp=.venv/.pyproject.sha256 want
  want=$(sha256sum pyproject.toml | cut -c1-64)
  if [ ! -x .venv/bin/python ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    echo "setting up .venv (pip install -e '.[test]')…"
    python3 -m venv .venv
    .venv/bin/python -m pip install -q --upgrade pip
    .venv/bin/python -m pip install -q -e '.[test]'
    echo "$want" > "$stamp"
  fi
}
