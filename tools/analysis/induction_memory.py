#!/usr/bin/env python3
"""How long an induction-heads checkpoint keeps the target in its SSM state.

An independent numpy forward of the harness's model (Hugging Face Mamba layout: checkpoint folder with
model.safetensors), run on one sequence whose special token sits at --trigger. Prints the prediction and its
logit margin at the last position, and for the second layer's channels that write most selectively right after
the trigger (at the target, or while the convolution still sees it), the fraction of the stored value that survives
the decay from the write to position 2^k: exp(-min|A| * sum of delta). Needs only numpy (Debian: python3-numpy); a 2^20-token sequence takes minutes.

  python3 tools/analysis/induction_memory.py CHECKPOINT/mamba --length 262144 --trigger 0
"""
import argparse, json, os, struct
import numpy as np


def load_safetensors(path):
    raw = open(path, "rb").read()
    header_size = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + header_size])
    tensors = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        if info["dtype"] not in ("F32", "F64"):
            raise SystemExit(f"{path}: {name} is {info['dtype']}; only F32/F64 checkpoints are read")
        start, end = info["data_offsets"]
        data = np.frombuffer(raw[8 + header_size + start:8 + header_size + end],
                             dtype=np.float32 if info["dtype"] == "F32" else np.float64)
        tensors[name.removeprefix("backbone.")] = data.reshape(info["shape"]).astype(np.float32)
    return tensors


def silu(x):
    return x / (1 + np.exp(-x))


def softplus(x):
    return np.where(x > 20, x, np.log1p(np.exp(np.minimum(x, 20))))


def rms_norm(x, weight, eps):
    return x / np.sqrt((x * x).mean(-1, keepdims=True) + eps) * weight


def forward(weights, config, tokens):
    """Logits for one token sequence, and each layer's delta (length, channels) and A (channels, state)."""
    inner, state, eps = config["intermediate_size"], config["state_size"], config["layer_norm_epsilon"]
    rank = config["time_step_rank"]
    hidden = weights["embeddings.weight"][tokens]
    per_layer = []
    for i in range(config["num_hidden_layers"]):
        w = lambda name: weights[f"layers.{i}.{name}"]
        xz = rms_norm(hidden, w("norm.weight"), eps) @ w("mixer.in_proj.weight").T
        x, z = xz[:, :inner], xz[:, inner:]
        kernel = w("mixer.conv1d.weight")[:, 0, :]                    # (channels, width), causal
        width = kernel.shape[1]
        padded = np.concatenate([np.zeros((width - 1, inner), np.float32), x])
        x = silu(sum(padded[k:k + len(x)] * kernel[:, k] for k in range(width)) + w("mixer.conv1d.bias"))
        projected = x @ w("mixer.x_proj.weight").T
        dt, B, C = projected[:, :rank], projected[:, rank:rank + state], projected[:, rank + state:]
        delta = softplus(dt @ w("mixer.dt_proj.weight").T + w("mixer.dt_proj.bias"))
        A = -np.exp(w("mixer.A_log"))
        h = np.zeros((inner, state), np.float32)
        y = np.empty_like(x)
        for t in range(len(x)):                                         # the selective scan, one step at a time
            h = np.exp(delta[t, :, None] * A) * h + (delta[t, :, None] * x[t, :, None]) * B[t]
            y[t] = h @ C[t]
        y = (y + x * w("mixer.D")) * silu(z)
        hidden = hidden + y @ w("mixer.out_proj.weight").T
        per_layer.append((delta, A))
    logits = rms_norm(hidden, weights["norm_f.weight"], eps) @ weights["embeddings.weight"].T
    return logits, per_layer


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoint", help="folder with config.json and model.safetensors")
    parser.add_argument("--length", type=int, default=4096)
    parser.add_argument("--trigger", type=int, default=0, help="position of the first special token")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--channels", type=int, default=6, help="how many storage channels to show")
    parser.add_argument("--target", type=int, help="put this ordinary token after the trigger instead of a random one")
    parser.add_argument("--tokens", help="read the sequence from this file instead (one byte per token, as written by "
                        "InductionHeads --show-misses --save-misses DIR); --length, --trigger, --target and --seed are ignored")
    args = parser.parse_args()
    config = json.load(open(os.path.join(args.checkpoint, "config.json")))
    weights = load_safetensors(os.path.join(args.checkpoint, "model.safetensors"))
    vocab = config["vocab_size"]
    special = vocab - 1
    if args.tokens:
        tokens = np.fromfile(args.tokens, dtype=np.uint8).astype(np.int64)
        specials = np.flatnonzero(tokens == special)
        if len(specials) != 2 or specials[1] != len(tokens) - 1:
            raise SystemExit(f"{args.tokens}: expected the special token {special} exactly twice, the second one last")
        args.length, args.trigger, args.target = len(tokens), int(specials[0]), None
    elif not 0 <= args.trigger <= args.length - 3:
        raise SystemExit("--trigger must leave room for the target and the final query")
    else:
        # The harness's task: uniform ordinary tokens, the special token (last id) at the trigger and at the end.
        rng = np.random.default_rng(args.seed)
        tokens = rng.integers(0, vocab - 1, size=args.length)
        tokens[args.trigger] = special
        tokens[-1] = special
    if args.target is not None:
        if not 0 <= args.target < special:
            raise SystemExit(f"--target must be an ordinary token, 0 … {special - 1}")
        tokens[args.trigger + 1] = args.target
    target = tokens[args.trigger + 1]

    logits, per_layer = forward(weights, config, tokens)
    last = logits[-1]
    margin = last[target] - np.delete(last, target).max()
    print(f"length {args.length}, trigger at {args.trigger} (distance {args.length - 1 - args.trigger}): target {target}, "
          f"predicted {last.argmax()}, margin {margin:.2f}")

    delta, A = per_layer[-1]
    # A channel may store the target at the target itself or a step or two later, while the convolution's window
    # still holds the special token and the target (runs trained for 200K steps do the latter). So each channel's
    # write is its largest delta within the window after the trigger, and its decay counts from the step after that.
    width = config["conv_kernel"]
    window = delta[args.trigger + 1:args.trigger + 1 + width]             # (offsets 1 … width, channels)
    offset = 1 + window.argmax(axis=0)                                   # the write's distance from the trigger
    written = window.max(axis=0)
    after = args.trigger + 1 + width                                     # past every channel's write
    noise = np.median(delta[after:after + 256], axis=0)
    with np.errstate(over="ignore", divide="ignore"):                # delta after the write can be denormal or 0
        storage = np.argsort(-written / noise)[:args.channels]
    rates = np.abs(A).min(axis=1)                                       # each channel's slowest decay rate
    ks = [k for k in range(8, 31) if after + (1 << k) <= args.length]
    if not ks:
        print("(the query comes less than 2^8 tokens after the target: no retention to show)")
        return
    print("last layer, channels that write most selectively right after the trigger; retention at distance 2^k, k = "
          + ", ".join(map(str, ks)))
    print("channel  write at trigger+  delta there  median delta after  retention")
    for c in storage:
        cumulative = np.cumsum(delta[args.trigger + offset[c] + 1:, c])  # summed delta from the write onwards
        retention = [np.exp(-rates[c] * cumulative[(1 << k) - 1]) for k in ks]
        print(f"{c:7d}  {offset[c]:16d}  {written[c]:11.2e}  {noise[c]:18.2e}  " + " ".join(f"{r:.3f}" for r in retention))

    # Where the stored value was lost: the positions after the write with the largest delta in those channels
    # (one such step multiplies the channel by exp(-|A| delta) and writes the current token over it).
    print("largest deltas after the write in those channels (position, distance before the query, delta, the 4 tokens "
          "the convolution sees), and the retention at the query")
    for c in storage:
        start = args.trigger + offset[c] + 1
        later = delta[start:-1, c]                                      # up to, not including, the query
        top = np.argsort(-later)[:3]
        events = "; ".join(f"{start + p} ({args.length - 1 - start - p}) {later[p]:.1e} "
                           f"{' '.join(map(str, tokens[max(0, start + p - 3):start + p + 1]))}" for p in top)
        print(f"{c:7d}  retention {np.exp(-rates[c] * later.sum()):.3f}  {events}")

if __name__ == "__main__":
    main()
