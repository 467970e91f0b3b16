#!/usr/bin/env python3
"""Drops from the pretraining corpus every line that shares text with an evaluation set, and reports sizes.

A corpus line is removed when, after normalisation (NFKC, lower case, every run of non-letters/digits -> one space),
  * the whole line equals a whole evaluation text (or one of its lines), of any length, or
  * one of its sentences equals a sentence of an evaluation text, for sentences of at least MIN_SENTENCE characters
    (shorter ones, such as "thank you", are too common to mean leakage).
Standard library only. Writes the kept lines to --out/<source>.txt and the dropped ones to --removed.
"""
import argparse, csv, email, email.policy, glob, os, re, sys, unicodedata

MIN_SENTENCE = 25
_non_word = re.compile(r"[\W_]+", re.UNICODE)
_sentence_end = re.compile(r"(?<=[.!?])\s+|\n+")


def norm(text):
    return _non_word.sub(" ", unicodedata.normalize("NFKC", text).lower()).strip()


def sentences(text):
    return [n for n in (norm(s) for s in _sentence_end.split(text)) if len(n) >= MIN_SENTENCE]


def tsv_column(path, column):
    with open(path, encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE):
            yield row[column] or ""


def spam_texts(folder):
    for path in sorted(glob.glob(os.path.join(folder, "*", "*.txt"))):
        with open(path, "rb") as f:
            msg = email.message_from_binary_file(f, policy=email.policy.compat32)
        yield str(msg.get("Subject", "") or "")
        for part in msg.walk():
            if part.get_content_maintype() == "text":
                payload = part.get_payload(decode=True) or b""
                try:
                    yield payload.decode(part.get_content_charset() or "latin-1", errors="replace")
                except LookupError:  # a charset name Python does not know
                    yield payload.decode("latin-1")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--raw", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--removed", required=True)
    ap.add_argument("--uci", required=True)
    ap.add_argument("--fine-foods", nargs="+", required=True)
    ap.add_argument("--spam", required=True)
    a = ap.parse_args()

    evaluation = {"uci": list(tsv_column(a.uci, "Text")),
                  "fine-foods": [t for p in a.fine_foods for t in tsv_column(p, "Text")],
                  "spamassassin": list(spam_texts(a.spam))}
    whole, parts = {}, {}
    for name, texts in evaluation.items():
        for t in texts:
            for piece in [t] + t.splitlines():
                if norm(piece): whole.setdefault(norm(piece), name)
            for s in sentences(t): parts.setdefault(s, name)
        print(f"evaluation set {name}: {len(texts):,} texts")
    print(f"{len(whole):,} distinct evaluation texts/lines, {len(parts):,} distinct sentences of >= {MIN_SENTENCE} characters")

    removed = open(a.removed, "w", encoding="utf-8")
    total = [0, 0, 0, 0]
    print(f"{'source':<12} {'lines':>9} {'chars':>11} {'removed':>8} {'kept lines':>10} {'kept chars':>11}")
    for path in sorted(glob.glob(os.path.join(a.raw, "*.txt"))):
        source = os.path.basename(path)[:-4]
        lines = chars = dropped = kept_chars = 0
        with open(path, encoding="utf-8") as f, open(os.path.join(a.out, source + ".txt"), "w", encoding="utf-8") as out:
            for line in f:
                line = line.rstrip("\n")
                if not line.strip(): continue
                lines += 1; chars += len(line)
                n = norm(line)
                hit = whole.get(n) or next((parts[s] for s in sentences(line) if s in parts), None)
                if hit:
                    dropped += 1
                    removed.write(f"{source}\t{hit}\t{line}\n")
                    if dropped <= 30: print(f"  removed from {source} (in {hit}): {line[:110]}")
                    continue
                out.write(line + "\n"); kept_chars += len(line)
        print(f"{source:<12} {lines:>9,} {chars:>11,} {dropped:>8,} {lines - dropped:>10,} {kept_chars:>11,}")
        for i, v in enumerate((lines, chars, dropped, kept_chars)): total[i] += v
    print(f"{'total':<12} {total[0]:>9,} {total[1]:>11,} {total[2]:>8,} {total[0] - total[2]:>10,} {total[3]:>11,}")
    print(f"removed lines listed in {a.removed}")


if __name__ == "__main__":
    sys.exit(main())
