#!/usr/bin/env bash
# deps.sh installs the Debian packages that ztagent's test tiers need, and only
# those that are missing, so running it twice is cheap and changes nothing.
#
#   scripts/deps.sh           install what is missing (needs root or sudo)
#   scripts/deps.sh --check   exit 0 when everything is present, 1 (listing what is missing) otherwise
set -euo pipefail

# Each package and why the tests need it.
packages=(
  gcc               # cgo, which go test -race needs
  libc6-dev         # the C library headers cgo builds against
  gnome-keyring     # a real Secret Service for the keyring tests (platform/keyring, e2e)
  dbus              # dbus-daemon and dbus-run-session, the session bus gnome-keyring lives on
  libnss-wrapper    # a passwd entry for the tray test's desktop user, seen only by its private dbus-daemon
  libsecret-tools   # secret-tool, to read what agentd stored from outside the process
  chromium          # the headless browser of the e2e tests
  wireguard-tools   # wg(8), to configure the reference WireGuard peer in interop tests
  wireguard-go      # the reference userspace WireGuard peer (this kernel has no WireGuard module)
  iproute2          # ip netns/link/addr/route for TUN-mode and interop tests
  systemd           # systemd-analyze, to verify and rate agentd's unit (cmd/agentd service tests)
)

missing=()
for p in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [ "$status" = "install ok installed" ] || missing+=("$p")
done

# The npm packages of the test tiers, installed with npm ci from their
# committed lockfiles: test/oidcprovider is the third-party OpenID provider
# (panva's oidc-provider) of the external-IdP tests. It needs the machine's
# Node.js (20.19 or later); Debian's nodejs package is too old for it.
npm_dirs=(test/oidcprovider)
root=$(cd "$(dirname "$0")/.." && pwd)
npm_missing=()
for d in "${npm_dirs[@]}"; do
  lock="$root/$d/package-lock.json"
  installed="$root/$d/node_modules/.package-lock.json"
  # npm ci writes node_modules/.package-lock.json; an older one than the
  # lockfile means the lockfile changed since the install.
  if [ ! -f "$installed" ] || [ "$lock" -nt "$installed" ]; then
    npm_missing+=("$d")
  fi
done

if [ "${1:-}" = "--check" ]; then
  if [ ${#missing[@]} -eq 0 ] && [ ${#npm_missing[@]} -eq 0 ]; then exit 0; fi
  [ ${#missing[@]} -eq 0 ] || echo "deps: missing Debian packages: ${missing[*]} (run: make deps)" >&2
  [ ${#npm_missing[@]} -eq 0 ] || echo "deps: npm packages not installed in: ${npm_missing[*]} (run: make deps)" >&2
  exit 1
fi

install_npm() {
  for d in "${npm_missing[@]}"; do
    if ! command -v npm >/dev/null 2>&1; then
      echo "deps: npm not found; install Node.js 20.19 or later with npm, then run make deps again (needed in $d)" >&2
      exit 1
    fi
    echo "deps: npm ci in $d"
    (cd "$root/$d" && npm ci --no-audit --no-fund --loglevel=error)
  done
}

if [ ${#missing[@]} -eq 0 ]; then
  echo "deps: all ${#packages[@]} Debian packages already installed"
  install_npm
  exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
  echo "deps: apt-get not found; install these packages with your system's package manager: ${missing[*]}" >&2
  exit 1
fi

sudo=()
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then
    sudo=(sudo)
  else
    echo "deps: need root to install ${missing[*]}; re-run as root: sudo make deps" >&2
    exit 1
  fi
fi

echo "deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
echo "deps: installed ${missing[*]}"
install_npm
