#!/usr/bin/env bash
# Builds the English pretraining corpus and the evaluation sets' text, then removes from the corpus every line that
# also occurs in an evaluation set. Idempotent: downloads go to data/cache/ (git-ignored) once; outputs are rewritten.
#
#   bash examples/Pretraining/fetch-corpus.sh
#
# Writes (UTF-8, one document, paragraph or verse per line):
#   data/corpus/{nlp-corpus,kjv,austen,mobydick}.txt     the deduplicated pretraining corpus (sources: DATA.md)
#   data/removed.txt                                     every corpus line dropped by deduplication, with its source
#   examples/FineTuning/data/fine-foods-{train,test}.tsv Amazon fine-food reviews (Text, Label: great/other)
# Needs: npm, apt-get + dpkg (Debian/Ubuntu), Rscript (installs r-base-core when missing and run as root), python3.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
cache="$here/data/cache"; raw="$here/data/raw"; corpus="$here/data/corpus"; evals="$here/data/eval"
finetune="$repo/examples/FineTuning/data"
mkdir -p "$cache" "$raw" "$corpus" "$evals" "$finetune"

debian() {  # debian PACKAGE: the .deb unpacked under $cache/root (no install, no dependencies)
  cd "$cache"
  if ! ls "$1"_*.deb >/dev/null 2>&1; then
    apt-get download "$1" >/dev/null 2>&1 || { apt-get update >/dev/null && apt-get download "$1"; }
  fi
  dpkg -x "$1"_*.deb root
  cd - >/dev/null
}

need_r() {
  command -v Rscript >/dev/null && return
  [ "$(id -u)" = 0 ] || { echo "fetch-corpus.sh: Rscript is needed (apt-get install r-base-core)" >&2; exit 1; }
  apt-get install -y --no-install-recommends r-base-core >/dev/null 2>&1 \
    || { apt-get update >/dev/null && apt-get install -y --no-install-recommends r-base-core >/dev/null; }
}

# 1. nlp-corpus@4.4.0 (npm, MIT): JSON arrays of sentences in builds/doc-*.json.
if [ ! -d "$cache/nlp-corpus/package/builds" ]; then
  mkdir -p "$cache/nlp-corpus" && cd "$cache/nlp-corpus"
  npm pack nlp-corpus@4.4.0 >/dev/null 2>&1 && tar xzf nlp-corpus-4.4.0.tgz && rm -f nlp-corpus-4.4.0.tgz
  cd - >/dev/null
fi
python3 - "$cache/nlp-corpus/package/builds" "$raw/nlp-corpus.txt" <<'PY'
import glob, json, os, sys
out = open(sys.argv[2], "w", encoding="utf-8")
for path in sorted(glob.glob(os.path.join(sys.argv[1], "doc-*.json")), key=lambda p: int(p.rsplit("-", 1)[1].split(".")[0])):
    for s in json.load(open(path, encoding="utf-8")):
        s = " ".join(str(s).split())
        if s: out.write(s + "\n")
PY

# 2. King James Bible (Debian bible-kjv-text + bible-kjv's reader; public domain), one verse a line.
[ -s "$cache/kjv/kjv.txt" ] || bash "$repo/examples/TextGeneration/fetch-kjv.sh" "$cache/kjv/kjv.txt" >/dev/null 2>&1
cp "$cache/kjv/kjv.txt" "$raw/kjv.txt"

# 3-5. R data: Jane Austen (r-cran-janeaustenr), Moby Dick (r-cran-tokenizers), Amazon fine foods (r-cran-modeldata).
need_r
for p in r-cran-janeaustenr r-cran-tokenizers r-cran-modeldata; do debian "$p"; done
lib="$cache/root/usr/lib/R/site-library"
Rscript --vanilla - "$lib" "$raw" "$finetune" <<'R'
a <- commandArgs(TRUE); lib <- a[1]; raw <- a[2]; ft <- a[3]
load_data <- function(pkg) { e <- new.env(); lazyLoad(file.path(lib, pkg, "data", "Rdata"), envir = e); e }
# Paragraphs: runs of non-blank lines joined by spaces.
paragraphs <- function(lines) {
  blank <- !nzchar(trimws(lines)); id <- cumsum(blank); keep <- !blank
  unname(vapply(split(trimws(lines[keep]), id[keep]), paste, "", collapse = " "))
}
austen <- load_data("janeaustenr")
books <- c("sensesensibility", "prideprejudice", "mansfieldpark", "emma", "northangerabbey", "persuasion")
writeLines(enc2utf8(unlist(lapply(books, function(b) paragraphs(get(b, envir = austen))))), file.path(raw, "austen.txt"), useBytes = TRUE)
moby <- get("mobydick", envir = load_data("tokenizers"))
writeLines(enc2utf8(paragraphs(unlist(strsplit(paste(moby, collapse = "\n"), "\n", fixed = TRUE)))), file.path(raw, "mobydick.txt"), useBytes = TRUE)
md <- load_data("modeldata")
clean <- function(x) gsub("[\t\r\n]+", " ", enc2utf8(as.character(x)))
for (part in c("training_data", "testing_data")) {
  d <- get(part, envir = md)
  out <- data.frame(Text = clean(d$review), Label = as.character(d$score))
  write.table(out, file.path(ft, paste0("fine-foods-", if (part == "training_data") "train" else "test", ".tsv")),
              sep = "\t", quote = FALSE, row.names = FALSE, fileEncoding = "UTF-8")
}
R

# 6. SpamAssassin (evaluation only; fetched by the TabularText example's script).
bash "$repo/examples/TabularText/fetch-data.sh" >/dev/null 2>&1

# Deduplicate the corpus against every evaluation set and report sizes.
python3 "$here/dedupe.py" --raw "$raw" --out "$corpus" --removed "$here/data/removed.txt" \
  --uci "$repo/examples/TextClassification/Data/sentiment.tsv" \
  --fine-foods "$finetune/fine-foods-train.tsv" "$finetune/fine-foods-test.tsv" \
  --spam "$repo/examples/TabularText/data/package/data"
