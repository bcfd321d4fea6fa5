"""Code made and run in a loop, as notebooks, templating and exec-based
step runners do: each round compiles a new code object, the last one is
freed, and Python's allocator hands out the same addresses again (the
code object's, its file name's, its line table's). Every round's memory
must be attributed to that round's file and line.

usage: exec_loop.py DIR     (writes DIR/gen_N.py-named code, not files)
"""
import sys

keep = []
d = sys.argv[1]
for i in range(8):
    src = f"def fn_{i}():\n    return bytearray({i + 1} << 20)\nkeep.append(fn_{i}())\n"
    exec(compile(src, f"{d}/gen_{i}.py", "exec"), {"keep": keep})
for i in range(8):
    src = "\n" * i + "keep.append(bytearray(3 << 20))\n"
    exec(compile(src, "<gen>", "exec"), {"keep": keep})
print(sum(map(len, keep)) >> 20)
