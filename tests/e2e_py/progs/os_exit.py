"""os._exit(3) right after allocating: no interpreter shutdown, no atexit;
the trace must still be whole and hold the allocation."""
import os
import sys


def hold():
    return [bytearray(1 << 20) for _ in range(24)]  # @site hold


def main():
    data = hold()
    print("allocated", sum(map(len, data)))
    sys.stdout.flush()
    os._exit(3)


if __name__ == "__main__":
    main()
