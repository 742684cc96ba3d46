#!/usr/bin/env python3
"""Picks the seed corpus from a libFuzzer merge control file: the inputs that each added at
least MIN_EDGES coverage edges when the merge ran them (smallest first), copied to OUT_DIR.

  build/fuzz/api_fuzzer -merge=1 -merge_control_file=control.txt /tmp/min CORPUS_DIRS...
  fuzz/pick_seeds.py control.txt 10 fuzz/corpus
"""
import os
import shutil
import sys

control, min_edges, out_dir = sys.argv[1], int(sys.argv[2]), sys.argv[3]
lines = open(control).read().split("\n")
count = int(lines[0])
inputs = lines[2:2 + count]
# The merge lists, for each input it ran, only the edges no earlier input reached.
new_edges = {}
for line in lines[2 + count:]:
    fields = line.split()
    if len(fields) >= 2 and fields[0] == "COV":
        new_edges[int(fields[1])] = len(fields) - 2
picked = [inputs[i] for i, n in sorted(new_edges.items()) if n >= min_edges]
os.makedirs(out_dir, exist_ok=True)
for path in picked:
    shutil.copy(path, out_dir)
total = sum(new_edges.values())
kept = sum(n for n in new_edges.values() if n >= min_edges)
print(f"{len(picked)} inputs, {sum(os.path.getsize(p) for p in picked)} bytes, "
      f"{kept} of {total} edges as the merge counted them")
