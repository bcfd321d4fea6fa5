"""Python workloads for bench/py_bench.py; prints `seconds S` (the workload
alone, start-up excluded).

usage: py_workload.py churn|numpy|threads ROUNDS

churn    small-object churn: build and drop lists of tuples and dicts
         (pymalloc's path: tuples, ints, floats, short strings, dict tables)
numpy    arrays: random data, arithmetic, sorting, slicing into 1000-element
         copies and concatenating (numpy's malloc/calloc path)
threads  the churn split over 4 threads (the GIL serialises them; each
         thread has its own sampler state)
"""
import sys
import threading
import time


def churn(rounds):
    kept = 0
    for r in range(rounds):
        rows = [(i, "k%d" % i, i * 0.5) for i in range(20000)]
        index = {row[1]: row for row in rows}
        groups = {}
        for row in rows:
            groups.setdefault(row[0] % 97, []).append(row)
        kept += len(index) + len(groups)
        del rows, index, groups
    return kept


def numpy_work(rounds):
    import numpy as np
    rng = np.random.default_rng(1)
    total = 0.0
    for r in range(rounds):
        a = rng.random(400_000)
        b = np.sort(a * 2.0 + 1.0)
        parts = [b[i:i + 1000].copy() for i in range(0, len(b), 1000)]
        c = np.concatenate(parts)
        total += float(c[-1])
        del a, b, c, parts
    return total


def threads(rounds):
    ts = [threading.Thread(target=churn, args=(max(1, rounds // 4),)) for _ in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()


def main():
    work = {"churn": churn, "numpy": numpy_work, "threads": threads}[sys.argv[1]]
    rounds = int(sys.argv[2])
    t0 = time.perf_counter()
    work(rounds)
    print("seconds %.6f" % (time.perf_counter() - t0))


if __name__ == "__main__":
    main()
