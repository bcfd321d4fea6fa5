# Known answer: names in each str storage kind. The driver runs a copy of
# this file named prog_ünï_日本.py, so co_filename is not ASCII either.
# A 1201-byte function name (made with exec, file "<string>", line 2) is cut
# to its last 1020 bytes behind "...", on a character boundary.
BIG = 1 << 20


def café():  # latin-1: one byte per character
    return len(bytes(BIG))  # @latin1


def 日本():  # UCS-2
    return len(bytes(BIG))  # @ucs2


def 𠀀():  # U+20000, UCS-4
    return len(bytes(BIG))  # @ucs4


LONG = "f" + "é" * 600
ns = {"BIG": BIG}
exec("def %s():\n    return len(bytes(BIG))\n" % LONG, ns)

total = 0
for _ in range(3):
    total += café() + 日本() + 𠀀() + ns[LONG]()
print(total)
