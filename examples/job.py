"""A small data job for the peaktrace quick start.

It loads "records", builds an index, aggregates, and writes a summary:
the peak is made by build_index() (a dict of lists of tuples) on top of
load_records() (a list of bytes objects). Run it under the profiler:

    peaktrace run -- python3 examples/job.py
"""
import hashlib
import sys


def load_records(n):
    # ~60 MB of bytes objects, kept until the end
    return [hashlib.sha256(str(i).encode()).digest() * 8 for i in range(n)]


def build_index(records):
    # a dict of lists of tuples: many small objects, the peak's biggest part
    index = {}
    for i, r in enumerate(records):
        index.setdefault(r[0], []).append((i, r[:16], len(r)))
    return index


def aggregate(index):
    return sorted(((k, len(v)) for k, v in index.items()), key=lambda kv: -kv[1])[:5]


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 200_000
    records = load_records(n)
    index = build_index(records)
    top = aggregate(index)
    del index
    print(f"{len(records)} records, top buckets: {[c for _, c in top]}")


if __name__ == "__main__":
    main()
