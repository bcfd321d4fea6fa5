# Known answer: libc malloc called through ctypes, which releases the GIL
# around the call, from four threads at once. CDLL(None) resolves malloc in
# the global scope, so the preloaded hook sees each call.
import ctypes
import threading

libc = ctypes.CDLL(None)
libc.malloc.restype = ctypes.c_void_p
libc.malloc.argtypes = [ctypes.c_size_t]
libc.free.argtypes = [ctypes.c_void_p]
libc.free.restype = None

SIZE = 1 << 20


def nogil_ctypes(n):
    ok = 0
    for _ in range(n):
        p = libc.malloc(SIZE)  # @ctypes
        if p:
            ok += 1
        libc.free(p)
    return ok


def worker(res, i):
    res[i] = nogil_ctypes(50)


res = [0] * 4
ts = [threading.Thread(target=worker, args=(res, i)) for i in range(4)]
for t in ts:
    t.start()
for t in ts:
    t.join()
print(sum(res))
