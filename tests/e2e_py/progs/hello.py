"""The smallest program: for the start-up checks (fail fast)."""
import sys

print("hello from python %d.%d" % sys.version_info[:2])
sys.stderr.write("a line on stderr\n")
