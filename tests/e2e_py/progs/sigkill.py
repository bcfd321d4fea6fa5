"""Killed with SIGKILL at its peak: allocates, says "ready", sleeps. The
test kills it; what the runtime had flushed must still give a report."""
import sys
import time


def hold():
    data = [bytearray(1 << 20) for _ in range(32)]  # @site hold
    data.append([("k%d" % i, i * 1000) for i in range(20000)])  # @site small
    return data


def main():
    data = hold()
    print("ready", flush=True)
    time.sleep(60)
    print("not killed", len(data))
    sys.exit(1)


if __name__ == "__main__":
    main()
