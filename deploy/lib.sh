# Shared by the deploy scripts: source it, don't run it.

# Installs from Debian the packages whose command is missing; nothing if all are there.
#   install_missing WHO PACKAGE[=COMMAND]...   (COMMAND defaults to the package's name)
install_missing() {
  local who=$1 spec missing=()
  shift
  for spec in "$@"; do
    command -v "${spec#*=}" >/dev/null 2>&1 || missing+=("${spec%%=*}")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "$who: installing ${missing[*]} from Debian" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq "${missing[@]}" >&2
}
