"""Run as `peaktrace run -- PY run_script.py`: a clear top site, and an exit
status that must come back through peaktrace."""
import sys


def load_table():
    table = []
    for _ in range(48):
        table.append(bytearray(1 << 20))  # @site load
    return table


def main():
    table = load_table()
    print("loaded %d MiB" % len(table))
    sys.exit(7)


if __name__ == "__main__":
    main()
