#!/usr/bin/env bash
# Builds codegemma-fim-<version>.vsix from a clean checkout; needs only node >= 20 and the npm registry.
#
#   editors/vscode/build.sh            # from anywhere
#   code --install-extension editors/vscode/codegemma-fim-*.vsix
#
# vsce packs the production dependencies (vscode-languageclient and what it
# needs) from node_modules into the .vsix, so the extension runs without npm
# on the user's machine; the dev tools (typescript, vsce) stay out.
set -euo pipefail
cd "$(dirname "$0")"

npm ci --no-audit --no-fund
npx tsc -p .
npm test
rm -f codegemma-fim-*.vsix
# The extension has no public repository URL; the LICENSE file sits beside package.json.
npx vsce package --no-yarn --allow-missing-repository
ls -l codegemma-fim-*.vsix
