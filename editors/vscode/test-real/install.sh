#!/usr/bin/env bash
# Installs what the real-VS Code tests (tests/editors/test_vscode_real.py) need; idempotent, reruns take seconds.
#
#   bash editors/vscode/test-real/install.sh          # .ci/run calls this
#   CODEGEMMA_VSCODE_DIR=/elsewhere bash editors/vscode/test-real/install.sh
#
# - Debian packages: chromium (headless browser), libkrb5-dev (code-server's kerberos addon needs gssapi/gssapi.h),
#   ripgrep (seeds @vscode/ripgrep's download cache so its postinstall does not fetch rg from GitHub).
# - npm, pinned, into $CODEGEMMA_VSCODE_DIR (default ~/.cache/codegemma-vscode): code-server 4.100.3 (VS Code
#   1.100.3, the newest whose engines.node is 20) and playwright-core, which drives Chromium.
# Writes $DIR/ready when everything installed; the tests skip (naming this script) until it exists.
set -euo pipefail

CODE_SERVER_VERSION=4.100.3
PLAYWRIGHT_VERSION=1.52.0
DIR=${CODEGEMMA_VSCODE_DIR:-$HOME/.cache/codegemma-vscode}
STAMP="$DIR/ready"
WANT="code-server@$CODE_SERVER_VERSION playwright-core@$PLAYWRIGHT_VERSION"

say() { echo "install.sh: $*"; }

if [[ -f "$STAMP" && "$(cat "$STAMP")" == "$WANT" && -x "$(command -v chromium || true)" ]]; then
  say "already installed in $DIR ($WANT)"
  exit 0
fi

missing=()
for pkg in chromium libkrb5-dev ripgrep; do
  dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
if ((${#missing[@]})); then
  SUDO=""
  [[ $(id -u) -ne 0 ]] && SUDO="sudo"
  say "apt-get install ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  say "Debian packages chromium libkrb5-dev ripgrep already installed"
fi

# @vscode/ripgrep 1.15.11 looks for this archive in its cache before downloading it.
TMP=${TMPDIR:-/tmp}
RG_CACHE="$TMP/vscode-ripgrep-cache-1.15.11"
RG_TAR="$RG_CACHE/ripgrep-v13.0.0-10-x86_64-unknown-linux-musl.tar.gz"
if [[ ! -s "$RG_TAR" ]]; then
  say "seeding $RG_TAR with Debian's $(command -v rg)"
  mkdir -p "$RG_CACHE"
  staging=$(mktemp -d)
  cp "$(command -v rg)" "$staging/rg"
  tar -czf "$RG_TAR" -C "$staging" rg
  rm -rf "$staging"
fi

mkdir -p "$DIR"
cd "$DIR"
[[ -f package.json ]] || echo '{"name": "codegemma-vscode-test-tools", "private": true}' > package.json
say "npm install $WANT into $DIR (several minutes the first time: native addons build from source)"
export npm_config_yes=true            # node-pty's postinstall runs `npx node-gyp`
[[ $(id -u) -eq 0 ]] && export npm_config_unsafe_perm=true
npm install --no-audit --no-fund --save-exact "code-server@$CODE_SERVER_VERSION" "playwright-core@$PLAYWRIGHT_VERSION"
"$DIR/node_modules/.bin/code-server" --version
echo "$WANT" > "$STAMP"
say "done: code-server at $DIR/node_modules/.bin/code-server, chromium at $(command -v chromium)"
