"""numpy arrays: the data buffers are malloc'd (np.ones) and calloc'd
(np.zeros) by numpy's C code, below the Python line that asked for them."""
import numpy as np


def build():
    ones = np.ones(4 << 20)  # @site ones
    zeros = np.zeros((1024, 2048))  # @site zeros
    return ones, zeros


def main():
    ones, zeros = build()
    print("arrays", ones.nbytes, zeros.nbytes, float(ones.sum()))


if __name__ == "__main__":
    main()
