"""Generators: a generator function and a generator expression allocate;
their frames are read at the yield, below the consumer that drives them."""

CHUNK = 256 << 10


def chunks(n):
    for _ in range(n):
        yield bytearray(CHUNK)  # @site gen


def consume():
    kept = []
    for c in chunks(64):  # @site consumer
        kept.append(c)
    kept.extend(bytes(CHUNK) for _ in range(32))  # @site genexpr
    return kept


def main():
    kept = consume()
    print("generators done: %d chunks" % len(kept))


if __name__ == "__main__":
    main()
