"""asyncio: three coroutines interleaved by the event loop, each allocating
at its own line between awaits; the results are held at the peak."""
import asyncio

CHUNK = 256 << 10


async def fetch_pages(n):
    pages = []
    for _ in range(n):
        pages.append(bytearray(CHUNK))  # @site pages
        await asyncio.sleep(0)
    return pages


async def parse_rows(n):
    rows = []
    for i in range(n):
        rows.append(bytes(CHUNK))  # @site rows
        await asyncio.sleep(0)
    return rows


class Cache:
    async def fill(self, n):
        self.blocks = {}
        for i in range(n):
            await asyncio.sleep(0)
            self.blocks[i] = bytearray(CHUNK)  # @site fill
        return self.blocks


async def main():
    cache = Cache()
    pages, rows, blocks = await asyncio.gather(fetch_pages(32), parse_rows(64), cache.fill(48))
    total = sum(map(len, pages)) + sum(map(len, rows)) + sum(map(len, blocks.values()))
    print("asyncio done: %d MiB" % (total >> 20))


if __name__ == "__main__":
    asyncio.run(main())
