"""PyTorch reference selective scan (plain per-step loop, autograd backward) timed on the same GPU,
next to the CUDA kernel's numbers from bench_scan_cuda's CSV, with the extra memory of forward + backward
of each (ours: the scratch and checkpoints the backward allocates). Usage: bench_reference.py results.csv"""
import csv
import statistics
import sys

import torch
import torch.nn.functional as F


def scan_ref(u, delta, A, B, C, D, z, delta_bias):
    """out = (sum_n C h + D u) * silu(z), h_t = exp(dt A) h_{t-1} + dt B u; fp32 compute, groups = 1."""
    in_dtype = u.dtype
    u, delta, B, C, z = u.float(), delta.float(), B.float(), C.float(), z.float()
    dt = F.softplus(delta + delta_bias[:, None])                       # (b, d, l)
    decay = torch.exp(dt.unsqueeze(-1) * A[:, None, :])                 # (b, d, l, n)
    drive = (dt * u).unsqueeze(-1) * B.transpose(1, 2).unsqueeze(1)     # (b, d, l, n)
    h = u.new_zeros(u.shape[0], u.shape[1], A.shape[1])
    ys = []
    for t in range(u.shape[2]):
        h = decay[:, :, t] * h + drive[:, :, t]
        ys.append(torch.einsum("bdn,bn->bd", h, C[:, :, t]))
    y = torch.stack(ys, dim=2) + u * D[:, None]
    return (y * F.silu(z)).to(in_dtype)


def time_ref(b, d, l, n, dtype, reps):
    dev = "cuda"
    g = torch.Generator(device=dev).manual_seed(0)
    mk = lambda *s: (torch.rand(*s, device=dev, generator=g, dtype=torch.float32) * 2 - 1).to(dtype)
    u, delta, z = mk(b, d, l), mk(b, d, l), mk(b, d, l)
    B, C = mk(b, n, l), mk(b, n, l)
    A = -torch.arange(1, n + 1, device=dev, dtype=torch.float32).repeat(d, 1)
    D = torch.ones(d, device=dev)
    bias = torch.full((d,), -4.0, device=dev)
    leaves = [u, delta, z, B, C, A, D, bias]
    for t in leaves:
        t.requires_grad_(True)
    dout = mk(b, d, l)
    fwd, bwd = [], []
    extra_mb = 0.0
    for i in range(reps + 1):  # first run is warm-up
        for t in leaves:
            t.grad = None
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
        e0, e1, e2 = (torch.cuda.Event(enable_timing=True) for _ in range(3))
        e0.record()
        out = scan_ref(u, delta, A, B, C, D, z, bias)
        e1.record()
        out.backward(dout)
        e2.record()
        torch.cuda.synchronize()
        # Extra memory of forward + backward: the peak above what was allocated before, less the output
        # and the gradients themselves (the CUDA benchmark's "extra MB" counts neither).
        results = out.numel() * out.element_size() + sum(t.grad.numel() * t.grad.element_size() for t in leaves)
        extra_mb = (torch.cuda.max_memory_allocated() - base - results) / 1e6
        if i:
            fwd.append(e0.elapsed_time(e1))
            bwd.append(e1.elapsed_time(e2))
    del out
    torch.cuda.empty_cache()
    return statistics.median(fwd), statistics.median(bwd), extra_mb


def main():
    rows = list(csv.DictReader(open(sys.argv[1])))
    reps = 5
    print(f"GPU: {torch.cuda.get_device_name(0)}; torch {torch.__version__}; reference = per-step PyTorch loop, "
          f"median of {reps}")
    hdr = (f"{'(B,D,L,N)':<22} {'dtype':<5} {'ours fwd':>9} {'ref fwd':>9} {'x':>6} {'ours bwd':>9} {'ref bwd':>9} {'x':>6}"
           f" {'ours MB':>8} {'ref MB':>8} {'ratio':>6}")
    print(hdr)
    for r in rows:
        b, d, l, n = (int(r[k]) for k in "BDLN")
        dtype = torch.float32 if r["dtype"] == "fp32" else torch.bfloat16
        rf, rb, rm = time_ref(b, d, l, n, dtype, reps)
        of, ob, om = float(r["fwd_ms"]), float(r["bwd_ms"]), float(r["extra_mb"])
        print(f"{f'({b},{d},{l},{n})':<22} {r['dtype']:<5} {of:9.3f} {rf:9.2f} {rf / of:6.0f} {ob:9.3f} {rb:9.2f} "
              f"{rb / ob:6.0f} {om:8.1f} {rm:8.1f} {om / rm:6.3f}", flush=True)


if __name__ == "__main__":
    main()
