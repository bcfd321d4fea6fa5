# Shutdown with daemon threads still allocating in C with the GIL released:
# the interpreter finalizes (and frees their thread states) while they run.
# Their walks must be refused from the moment finalization starts, while
# the main thread, which finalizes, is still walked: an object's __del__
# runs during finalization and allocates at a tagged line, then waits (by
# progress, not time) for the spinners to allocate more.
#
# The object lives in a module of its own: __main__'s globals stay alive as
# long as the spinners' frames reference them, so an object held there would
# never be finalized.
import ctypes
import os
import sys
import threading
import types

spin = ctypes.CDLL(os.environ["PYSPY_SPIN_LIB"])
spin.pyspy_spin.argtypes = [ctypes.c_size_t]
spin.pyspy_spin.restype = None
spin.pyspy_spin_wait.argtypes = [ctypes.c_long]
spin.pyspy_spin_wait.restype = None

BIG = 1 << 20


def spin_c():
    spin.pyspy_spin(BIG)  # @spin


class Holder:
    def __init__(self):
        # module globals may be gone by the time __del__ runs
        self.wait = spin.pyspy_spin_wait
        self.make = bytes

    def __del__(self):
        data = self.make(BIG)  # @del
        self.wait(3000)
        del data


sys.modules["pyspy_holder"] = types.ModuleType("pyspy_holder")
sys.modules["pyspy_holder"].holder = Holder()
for _ in range(3):
    threading.Thread(target=spin_c, daemon=True).start()
spin.pyspy_spin_wait(300)
print("main done")
