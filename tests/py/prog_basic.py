# Known answer: every allocation of >= 256 KiB below happens at a tagged
# line, on the main thread or in one of four threads.
import threading

BIG = 1 << 20


def alloc_bytes(n):
    out = []
    for _ in range(n):
        out.append(bytes(BIG))  # @bytes
    return sum(len(b) for b in out)


def alloc_list(n):
    keep = []
    for _ in range(n):
        keep.append([0] * 300000)  # @list
    return sum(len(x) for x in keep)


def thread_work(n, res, i):
    total = 0
    for _ in range(n):
        total += len(bytearray(BIG))  # @thread
    res[i] = total


def main():
    print(alloc_bytes(20))
    print(alloc_list(10))
    res = [0] * 4
    ts = [threading.Thread(target=thread_work, args=(10, res, i)) for i in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    print(sum(res))


main()
