"""An uncaught exception after allocating: the traceback and exit status 1
must be the same as without the profiler."""


def hold():
    return bytearray(24 << 20)  # @site hold


def check(data):
    if len(data) > 1000:
        raise ValueError("too big: %d bytes" % len(data))


def main():
    data = hold()
    print("allocated", len(data), flush=True)
    check(data)


if __name__ == "__main__":
    main()
