# Sourced by the e2e scripts: where things live. Downloads and the debootstrap base are
# cached outside the repo so a second run builds nothing from the network.
CACHE=${PVIC_E2E_CACHE:-/var/cache/pvic-e2e}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TOP=$(cd "$HERE/../../.." && pwd)
OUT=${PVIC_E2E_OUT:-$TOP/build-e2e}
SUITE=bookworm
# The machine's configured Debian mirror (deb822 or one-line format), for debootstrap.
mirror() {
  local m
  m=$(grep -hs -E '^(URIs:|deb )' /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources \
      | grep -o 'https\?://[^ ]*/debian/\?$\|https\?://[^ ]*/debian ' | head -1 | tr -d ' ')
  echo "${m:-http://deb.debian.org/debian}"
}
