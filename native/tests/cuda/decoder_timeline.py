#!/usr/bin/env python3
"""Summarise an ncu CSV of decoder steps (bench_decoder_cuda under MAMBA_BENCH_PROFILE=1) into a per-kernel timeline.

Each profiled step starts with embed_kernel. For every step: the kernels' summed GPU time (what a step would take with
no gaps between kernels), and per kernel name the count, total and mean time, and achieved DRAM read bandwidth.
usage: decoder_timeline.py ncu.csv [labels...]   (labels name the steps in order, e.g. fp32-b1 fp32-b16 bf16-b1 bf16-b16)
"""
import csv
import sys
from collections import OrderedDict


def number(text):
    return float(text.replace(",", "")) if text and text.replace(",", "").replace(".", "", 1).isdigit() else 0.0


def main():
    rows = list(csv.reader(open(sys.argv[1], newline="")))
    header = next(i for i, r in enumerate(rows) if "Kernel Name" in r)
    names = rows[header]
    units = rows[header + 1]
    col = {n: i for i, n in enumerate(names)}
    time_scale = {"nsecond": 1e-3, "usecond": 1.0, "msecond": 1e3}.get(units[col["gpu__time_duration.sum"]], 1e-3)
    byte_scale = {"byte": 1.0, "Kbyte": 1e3, "Mbyte": 1e6, "Gbyte": 1e9}.get(units[col["dram__bytes_read.sum"]], 1.0)
    steps = []
    for r in rows[header + 2:]:
        if len(r) < len(names):
            continue
        kernel = r[col["Kernel Name"]]
        if kernel.startswith("embed") or not steps:
            steps.append([])
        # The grid tells the GEMVs apart (in_proj, x_proj, out_proj, lm_head share one kernel name).
        steps[-1].append((f"{kernel} {r[col['Grid Size']].replace(' ', '')}", number(r[col["gpu__time_duration.sum"]]) * time_scale,
                          number(r[col["dram__bytes_read.sum"]]) * byte_scale))
    labels = sys.argv[2:]
    for s, kernels in enumerate(steps):
        label = labels[s] if s < len(labels) else f"step {s}"
        total = sum(k[1] for k in kernels)
        read = sum(k[2] for k in kernels)
        print(f"--- {label}: {len(kernels)} kernels, {total:.1f} us of kernel time, {read / 1e6:.1f} MB read from DRAM "
              f"({read / (total * 1e-6) / 1e9 if total else 0:.0f} GB/s over the kernels)")
        groups = OrderedDict()
        for kernel, us, b in kernels:
            g = groups.setdefault(kernel, [0, 0.0, 0.0])
            g[0] += 1
            g[1] += us
            g[2] += b
        for kernel, (n, us, b) in sorted(groups.items(), key=lambda kv: -kv[1][1]):
            print(f"  {kernel[:70]:70s} x{n:<4d} {us:8.1f} us ({100 * us / total:4.1f}%)  mean {us / n:6.2f} us  "
                  f"{b / (us * 1e-6) / 1e9 if us else 0:6.0f} GB/s")


if __name__ == "__main__":
    main()
