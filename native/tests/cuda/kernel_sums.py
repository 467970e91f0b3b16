"""Sums ncu's gpu__time_duration.sum per kernel name: python3 kernel_sums.py ncu.csv [top 20] [name width 70].

The csv is `ncu --csv --page raw --metrics gpu__time_duration.sum` output (its log lines before the header are
skipped). Prints the total, then the top kernels by time with their launch counts."""
import collections
import csv
import sys

path = sys.argv[1]
top = int(sys.argv[2]) if len(sys.argv) > 2 else 20
width = int(sys.argv[3]) if len(sys.argv) > 3 else 70
lines = open(path, errors="replace").read().splitlines()
start = next((i for i, line in enumerate(lines) if line.startswith('"ID"')), None)
if start is None:
    sys.exit(f"{path}: no ncu csv header")
rows = list(csv.reader(lines[start:]))
head = rows[0]
name, time = head.index("Kernel Name"), head.index("gpu__time_duration.sum")
ms = {"nsecond": 1e-6, "usecond": 1e-3, "msecond": 1.0}.get(rows[1][time], 1e-6)
total, count = collections.Counter(), collections.Counter()
for row in rows[2:]:
    try:
        value = float(row[time].replace(",", ""))
    except (ValueError, IndexError):
        continue
    total[row[name][:width]] += value
    count[row[name][:width]] += 1
print(f"all kernels {sum(total.values()) * ms:.2f} ms, {sum(count.values())} launches")
for kernel, value in total.most_common(top):
    print(f"{value * ms:8.3f} ms {count[kernel]:5d}x {kernel}")
