#!/usr/bin/env bash
# Refresh the front-end files the web UI serves from src/dockyard/ui/static/vendor.
# They are committed: the UI needs no network and no Node.js at run time.
set -euo pipefail
cd "$(dirname "$0")/../src/dockyard/ui"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cp package.json "$tmp/"
(cd "$tmp" && npm install --silent --no-audit --no-fund)
cp "$tmp/node_modules/uplot/dist/uPlot.iife.min.js" "$tmp/node_modules/uplot/dist/uPlot.min.css" static/vendor/
cp "$tmp/node_modules/uplot/LICENSE" static/vendor/uPlot.LICENSE
echo "vendored uPlot $(node -p "require('$tmp/node_modules/uplot/package.json').version")"
