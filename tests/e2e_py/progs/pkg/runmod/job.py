"""Run as a module: `python -m runmod.job`; exits with status 5."""
import sys


def crunch():
    blocks = []
    for _ in range(40):
        blocks.append(bytes(1 << 20))  # @site crunch
    return blocks


if __name__ == "__main__":
    blocks = crunch()
    print("crunched %d MiB" % len(blocks))
    sys.exit(5)
