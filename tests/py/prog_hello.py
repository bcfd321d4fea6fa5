# Runs under any python, 2.7 included: for the interpreters that must be
# refused at probe time.
import sys
data = [bytes(bytearray(1 << 20)) for _ in range(3)]
sys.stdout.write("hello %d\n" % sum(len(d) for d in data))
