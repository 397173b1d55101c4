# Sourced by bin/run, bin/test and bin/openenv-clients: make a virtualenv exist and match its
# requirements.
#
# A virtualenv is built once per set of requirements in a cache outside the checkout
# ($POLYPHARMACY_VENV_CACHE, by default ~/.cache/polypharmacy/venvs/<name>-<hash>) and the
# checkout's .venv is a link to it: a fresh clone on a machine that built it before (CI, a second
# worktree) starts in a second instead of reinstalling 1.5 GB. A .venv that is a folder of its own
# (an older checkout's) is kept and updated in place, as before. The newest few builds of each
# name are kept; older ones are removed when a new one is made.

VENV_CACHE="${POLYPHARMACY_VENV_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/polypharmacy/venvs}"
VENV_KEEP=3

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

# pip_install <venv> <requirements…>: pip's notes about this machine's unused local index
# folders are dropped.
pip_install() {
    local venv="$1"
    shift
    local args=() r
    for r in "$@"; do args+=(-r "$r"); done
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "${args[@]}" \
        2> >(grep -v "^WARNING: Location '.*' is ignored" >&2)
}

requirements_hash() {  # requirements_hash <python> <files…>: of the files and the Python they are for
    local python="$1"
    shift
    { cat "$@"; "$python" -c 'import sys; print(sys.version)'; } | sha256sum | cut -c1-16
}

# venv_for <link> <name> <requirements…>: <link> (.venv, .venv-openenv-0.10.0…) made to match
# the requirements; the first file is the one installed (it may include the others with -r).
venv_for() {
    local link="$1" name="$2" python hash stamp target started hex16
    shift 2
    python="$(find_python)"
    hash="$(requirements_hash "$python" "$@")"
    stamp="$link/.installed-$name"
    if [ -d "$link" ] && [ ! -L "$link" ]; then  # a folder of its own: updated in place
        if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$hash" ]; then
            echo "Installing $1 into $link"
            pip_install "$link" "$1"
            echo "$hash" >"$stamp"
        fi
        return 0
    fi
    target="$VENV_CACHE/$name-$hash"
    if [ ! -f "$target/.installed-$name" ]; then
        mkdir -p "$VENV_CACHE"
        # One build at a time per cache entry: two checkouts starting together wait for each other.
        exec 9>"$target.lock"
        flock 9
        if [ ! -f "$target/.installed-$name" ]; then
            started=$SECONDS
            rm -rf "$target"
            echo "Creating $target with $python (for $link)"
            "$python" -m venv "$target"
            echo "Installing $1 into it"
            pip_install "$target" "$1"
            echo "$hash" >"$target/.installed-$name"
            echo "$link ready in $((SECONDS - started)) s"
            # The oldest builds of this name beyond the newest few go.
            hex16="$(printf '[0-9a-f]%.0s' $(seq 16))"  # "requirements-*" would match "requirements-dev-*"
            # shellcheck disable=SC2086
            ls -1dt "$VENV_CACHE/$name"-$hex16/ 2>/dev/null | tail -n +$((VENV_KEEP + 1)) | while read -r old; do
                [ "${old%/}" != "$target" ] && rm -rf "${old%/}" "${old%/}.lock"
            done
        fi
        exec 9>&-
    fi
    if [ "$(readlink "$link" 2>/dev/null)" != "$target" ]; then
        rm -f "$link"
        ln -s "$target" "$link"
    fi
}

ensure_venv() {  # ensure_venv requirements.txt | requirements-dev.txt
    local requirements="$1" dev
    if [ "$requirements" = requirements.txt ] && { [ -L .venv ] || [ ! -e .venv ]; }; then
        # bin/run after bin/test: the development build holds everything bin/run needs, so a
        # current one is used rather than building a second 1.5 GB environment.
        dev="$VENV_CACHE/requirements-dev-$(requirements_hash "$(find_python)" requirements-dev.txt requirements.txt)"
        if [ -f "$dev/.installed-requirements-dev" ]; then requirements=requirements-dev.txt; fi
    fi
    venv_for .venv "$(basename "$requirements" .txt)" "$requirements" requirements.txt
}
