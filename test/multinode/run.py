#!/usr/bin/python3
"""Run Herald's multi-node tests: /usr/bin/python3 test/multinode/run.py [unittest options, e.g. -k test_4]

HERALD_BIN defaults to build/default/herald of this checkout. CTest runs the same tests with
    /usr/bin/python3 -m unittest discover -s <repo>/test/multinode -p "test_*.py" -v
and HERALD_BIN=$<TARGET_FILE:herald>.
"""
import importlib.util
import os
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))

if __name__ == "__main__":
    # Debian's python3-redis is on /usr/bin/python3's path, maybe not on another interpreter's.
    if (importlib.util.find_spec("redis") is None
            and os.path.realpath(sys.executable) != os.path.realpath("/usr/bin/python3")):
        os.execv("/usr/bin/python3", ["/usr/bin/python3", os.path.abspath(__file__)] + sys.argv[1:])
    os.environ.setdefault("HERALD_BIN", os.path.join(HERE, "..", "..", "build", "default", "herald"))
    unittest.main(module=None, argv=[sys.argv[0], "discover", "-s", HERE, "-t", HERE,
                                     "-p", "test_*.py", "-v"] + sys.argv[1:])
