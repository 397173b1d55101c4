# Sourced by bin/run and bin/test: make .venv exist and match a requirements file.
# The install is skipped while a stamp of the requirements' hash is current, so restarts are fast.

find_python() {
    local candidate
    for candidate in "${PYTHON:-}" python3.11 python3; do
        if [ -n "$candidate" ] && command -v "$candidate" >/dev/null 2>&1 &&
            "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
            echo "$candidate"
            return 0
        fi
    done
    echo "Python 3.11 or newer is needed (set PYTHON=/path/to/python3.11)." >&2
    return 1
}

ensure_venv() {
    local requirements="$1" python hash stamp
    if [ ! -x .venv/bin/python ]; then
        python="$(find_python)"
        echo "Creating .venv with $python"
        "$python" -m venv .venv
    fi
    hash="$(cat "$requirements" requirements.txt | sha256sum | cut -d' ' -f1)"
    stamp=".venv/.installed-$(basename "$requirements" .txt)"
    if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$hash" ]; then
        echo "Installing $requirements into .venv"
        .venv/bin/python -m pip install --quiet --disable-pip-version-check -r "$requirements"
        echo "$hash" >"$stamp"
    fi
}
