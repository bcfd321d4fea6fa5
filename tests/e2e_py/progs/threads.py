"""Four threads, each allocating at its own line; the main thread holds
everything at the peak (all four threads' data alive at once)."""
import threading

CHUNK = 64 << 10
held = {}
ready = threading.Barrier(5)


def worker0(n):
    held[0] = [bytearray(CHUNK) for _ in range(n)]  # @site w0
    ready.wait()


def worker1(n):
    out = []
    for _ in range(n):
        out.append(bytearray(CHUNK))  # @site w1
    held[1] = out
    ready.wait()


def worker2(n):
    out = []
    for _ in range(n):
        out.append(bytes(CHUNK))  # @site w2
    held[2] = out
    ready.wait()


def worker3(n):
    out = {}
    for i in range(n):
        out[i] = bytearray(CHUNK)  # @site w3
    held[3] = out
    ready.wait()


def main():
    counts = [64, 128, 192, 256]  # 4, 8, 12 and 16 MiB
    threads = [threading.Thread(target=w, args=(n,), name="worker%d" % k)
               for k, (w, n) in enumerate(zip((worker0, worker1, worker2, worker3), counts))]
    for t in threads:
        t.start()
    ready.wait()  # the peak: every worker's data is alive
    for t in threads:
        t.join()
    print("threads done:", sorted((k, len(v)) for k, v in held.items()))
    held.clear()


if __name__ == "__main__":
    main()
