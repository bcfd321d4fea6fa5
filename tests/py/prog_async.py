# Known answer: coroutines interleaved by the event loop allocate at one
# line; the outermost frame is the module running asyncio.run.
import asyncio

BIG = 1 << 20


async def produce(n):
    out = 0
    for _ in range(n):
        data = bytes(BIG)  # @async
        out += len(data)
        await asyncio.sleep(0)
    return out


async def main():
    results = await asyncio.gather(produce(5), produce(5))
    return sum(results)


print(asyncio.run(main()))
