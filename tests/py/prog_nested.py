# Known answer: a function nested in a method. 3.11+ report its qualname
# Outer.method.<locals>.inner (caller Outer.method); 3.9/3.10 only have
# co_name: inner (caller method).
BIG = 1 << 20


class Outer:
    def method(self, n):
        def inner():
            return bytes(BIG)  # @nested

        total = 0
        for _ in range(n):
            total += len(inner())  # @nested_call
        return total


print(Outer().method(10))
