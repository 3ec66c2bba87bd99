#!/bin/sh
# Set up everything the tool needs on a fresh Debian machine with Python 3.11+ (idempotent).
#   sh scripts/setup.sh          what a build needs: system libraries, fonts, .venv with the package
#   sh scripts/setup.sh --test   also what the test suite needs (Java for EPUBCheck, poppler, qpdf)
set -eu
cd "$(dirname "$0")/.."
want_test=0
[ "${1:-}" = "--test" ] && want_test=1

# System packages: Pango for WeasyPrint, the project's fonts; for tests a Java runtime (EPUBCheck),
# poppler-utils (pdftoppm, pdffonts), qpdf and Chromium (browser tests). Installed only when missing, and only as root.
pkgs="libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fontconfig $(cat scripts/apt-fonts.txt 2>/dev/null | tr '\n' ' ')"
[ $want_test = 1 ] && pkgs="$pkgs default-jre-headless poppler-utils qpdf chromium"
missing=""
for p in $pkgs; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
  if [ "$(id -u)" = 0 ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq && apt-get install -y -qq --no-install-recommends $missing >/dev/null
  else
    echo "setup: please install these Debian packages (as root):$missing" >&2
  fi
fi

py=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  if ! $py -m venv .venv 2>/dev/null; then
    [ "$(id -u)" = 0 ] && apt-get update -qq && apt-get install -y -qq python3-venv >/dev/null
    $py -m venv .venv
  fi
fi
extra=""
[ $want_test = 1 ] && extra="[test]"
.venv/bin/python -m pip install -q --disable-pip-version-check -c constraints.txt -e ".$extra"
# The package runs from this checkout (-e): compile it now, as a wheel's install would, so that no
# build compiles it again where PYTHONDONTWRITEBYTECODE keeps imports from writing bytecode (~0.1 s
# a build). Only modules changed since are compiled again.
.venv/bin/python -m compileall -q scholia
