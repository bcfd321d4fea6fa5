# Known answer under an active trace function (a debugger, coverage.py):
# 3.9/3.10 then keep the line in f_lineno, 3.12+ instrument the bytecode
# (sys.monitoring); the attributed line must not change.
import sys

BIG = 1 << 20
events = [0]


def tracer(frame, event, arg):
    events[0] += 1
    return tracer


def traced(n):
    total = 0
    for _ in range(n):
        total += len(bytes(BIG))  # @traced
    return total


sys.settrace(tracer)
r = traced(10)
sys.settrace(None)
print(r, events[0] > 0)
