"""Known answer: the peak is made by four sites whose sizes the program
measures itself (sys.getsizeof of what each line created); a smaller second
hill comes after the first is freed and must not be in the peak.

The hill ends with a large block (seal): the runtime's exact total counts
pymalloc's arenas, not its blocks, so without it the peak would be the
moment the last arena was mapped, before the objects that fill it."""
import sys

BLOB = 1 << 20
TEXT = "%0400d"  # 400 characters: still a pymalloc block (<= 512 bytes), and
                 # 10x fewer objects per byte (exact mode's cost) than short ones


def make_blobs(n):
    out = []
    for _ in range(n):
        out.append(bytearray(BLOB))  # @site blobs
    return out


def make_records(n):
    recs = []
    for i in range(n):
        recs.append((i * 7 + 1000, "r%d" % i, TEXT % i, i * 0.5))  # @site records
    return recs


def make_table(n):
    table = {}
    for i in range(n):
        table[i * 3 + 7] = TEXT % -i  # @site table
    return table


def seal():
    return bytearray(4 << 20)  # @site seal


def second_hill(n):
    hill = []
    for _ in range(n):
        hill.append(bytearray(BLOB))  # @site second
    return len(hill)


def container(obj, empty):
    return sys.getsizeof(obj) - sys.getsizeof(empty)


def main():
    blobs = make_blobs(128)
    recs = make_records(60000)
    table = make_table(50000)
    sealed = seal()
    # measured at the peak, with what was allocated at each line
    size = sys.getsizeof
    want = {
        "blobs": container(blobs, []) + sum(size(b) for b in blobs),
        "records": container(recs, []) + sum(size(r) + sum(map(size, r)) for r in recs),
        "table": container(table, {}) + sum(size(k) + size(v) for k, v in table.items()),
        "seal": size(sealed),
    }
    del blobs, recs, table, sealed
    n = second_hill(40)
    for site in sorted(want):
        print("want %s %d" % (site, want[site]))
    print("second hill of %d MiB done" % n)


if __name__ == "__main__":
    main()
