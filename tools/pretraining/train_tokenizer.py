#!/usr/bin/env python3
"""Trains a byte-level BPE tokenizer for pretraining a Mamba model with Microsoft.ML.Mamba.

    python tools/pretraining/train_tokenizer.py --vocab-size 8192 --out OUT_DIR CORPUS_FILE_OR_DIR [...]

Needs the Hugging Face `tokenizers` library (tested against 0.23). Writes OUT_DIR/tokenizer.json,
tokenizer_config.json and special_tokens_map.json in the shape MambaTokenizers.FromHuggingFace reads:
  * model BPE over GPT-2's byte alphabet (every byte has a token: no unknown token, no byte fallback),
  * a single ByteLevel pre-tokenizer (GPT-2's split regex, no prefix space) and a ByteLevel decoder, no normalizer,
  * id 0 = <|endoftext|> (beginning and end of sequence), id 1 = <|padding|> (padding).
Corpus files are read as UTF-8, one document per line (blank lines skipped); a folder contributes its *.txt files.
"""
import argparse
import json
import os
import sys

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

END_OF_TEXT, PADDING = "<|endoftext|>", "<|padding|>"


def corpus_files(paths):
    for path in paths:
        if os.path.isdir(path):
            for root, _, names in sorted(os.walk(path)):
                yield from (os.path.join(root, n) for n in sorted(names) if n.endswith(".txt"))
        elif os.path.isfile(path):
            yield path
        else:
            sys.exit(f"train_tokenizer.py: corpus path '{path}' is neither a file nor a folder")


def lines(files):
    for path in files:
        with open(path, encoding="utf-8") as f:
            for line in f:
                if line.strip():
                    yield line.rstrip("\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("corpus", nargs="+", help="text files or folders of *.txt")
    ap.add_argument("--vocab-size", type=int, default=8192, help="ids in all, special tokens included (default 8192)")
    ap.add_argument("--min-frequency", type=int, default=2, help="merges seen fewer times are not learnt (default 2)")
    ap.add_argument("--out", required=True, help="folder to write the tokenizer files to")
    a = ap.parse_args()
    files = list(corpus_files(a.corpus))
    if not files:
        sys.exit("train_tokenizer.py: no corpus files found")

    tokenizer = Tokenizer(models.BPE())  # no unk token: the byte alphabet covers every input
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=a.vocab_size,
        min_frequency=a.min_frequency,
        special_tokens=[END_OF_TEXT, PADDING],  # ids 0 and 1, in this order
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(lines(files), trainer=trainer)

    assert tokenizer.token_to_id(END_OF_TEXT) == 0 and tokenizer.token_to_id(PADDING) == 1
    os.makedirs(a.out, exist_ok=True)
    tokenizer.save(os.path.join(a.out, "tokenizer.json"))
    special = {"bos_token": END_OF_TEXT, "eos_token": END_OF_TEXT, "unk_token": END_OF_TEXT, "pad_token": PADDING}
    config = dict(special, tokenizer_class="PreTrainedTokenizerFast", add_prefix_space=False, clean_up_tokenization_spaces=False,
                  model_max_length=1_000_000)
    for name, content in (("tokenizer_config.json", config), ("special_tokens_map.json", special)):
        with open(os.path.join(a.out, name), "w", encoding="utf-8") as f:
            json.dump(content, f, indent=2)

    sample = "It is a truth universally acknowledged, that a single man in possession of a good fortune."
    ids = tokenizer.encode(sample).ids
    assert tokenizer.decode(ids) == sample, "the tokenizer does not round-trip"
    print(f"train_tokenizer.py: {tokenizer.get_vocab_size()} ids from {len(files)} file(s) -> {a.out}; "
          f"sample: {len(sample)} chars -> {len(ids)} tokens")


if __name__ == "__main__":
    main()
