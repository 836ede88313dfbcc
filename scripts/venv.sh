# Sourced by the scripts: the project's virtualenv in .venv, (re)installed only when
# pyproject.toml changed since the last install (a stamp file names its hash).
ensure_venv() {
    local py=.venv/bin/python stamp
    # --clear also repairs a venv left without pip or whose interpreter has gone.
    "$py" -m pip --version >/dev/null 2>&1 || python3 -m venv --clear .venv
    stamp=".venv/.installed-$(sha256sum pyproject.toml | cut -c1-16)"
    if [ ! -e "$stamp" ]; then
        echo "installing listbridge and its dependencies into .venv …"
        PIP_DISABLE_PIP_VERSION_CHECK=1 "$py" -m pip install --quiet -e '.[test]'
        rm -f .venv/.installed-*
        touch "$stamp"
    fi
}
