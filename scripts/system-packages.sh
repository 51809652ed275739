#!/usr/bin/env bash
# Install the Debian packages `make test` needs, when any is missing.
#
#   scripts/system-packages.sh
#
# What the tests need besides Python: a throwaway PostgreSQL (and PgBouncer in front of
# it), Redis, Chromium and fonts for the page tests, and Tesseract for the screenshots'
# license keys. `make demo` needs none of them.
#
# Nothing to do (the usual case) is one dpkg query and no output. Otherwise the missing
# packages are installed with apt-get: directly as root, through sudo when it needs no
# password; else the script stops and prints the one command that installs them.
# SYSTEM_PACKAGES replaces the list (the tests give it packages that do not exist).
set -euo pipefail

default_packages=(
  postgresql pgbouncer redis-server
  chromium fonts-dejavu-core fonts-liberation2 fonts-noto-mono
  tesseract-ocr tesseract-ocr-eng
  python3-venv make
)
if [[ -n "${SYSTEM_PACKAGES:-}" ]]; then
  read -r -a packages <<<"$SYSTEM_PACKAGES"
else
  packages=("${default_packages[@]}")
fi

# dpkg-query answers for every package in one call; one it has never heard of is missing
# too (its line is absent, and it writes to stderr).
installed="$(dpkg-query -W -f='${Package} ${db:Status-Status}\n' "${packages[@]}" 2>/dev/null || true)"
missing=()
for package in "${packages[@]}"; do
  grep -qx "$package installed" <<<"$installed" || missing+=("$package")
done
((${#missing[@]})) || exit 0

install_command="apt-get update && apt-get install -y --no-install-recommends ${missing[*]}"
if [[ $(id -u) -eq 0 ]]; then
  as_root=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  as_root=(sudo -n)
else
  # sudo that asks for a password (or no sudo) cannot be used from make: say what to run.
  command -v sudo >/dev/null 2>&1 && become=(sudo sh -c) || become=(su -c)
  echo "system-packages: missing Debian packages (${missing[*]}); install them with:" \
    "${become[*]} '$install_command'" >&2
  exit 1
fi

echo "system-packages: installing ${missing[*]}" >&2
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
  --no-install-recommends "${missing[@]}"
