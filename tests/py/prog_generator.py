# Known answer: the generator's frame allocates at its yield line, and its
# caller is the consumer driving it.
BIG = 1 << 20


def gen_chunks(n):
    for i in range(n):
        yield bytes(BIG)  # @gen


def consume():
    total = 0
    for chunk in gen_chunks(15):
        total += len(chunk)
    return total


print(consume())
