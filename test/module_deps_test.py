"""The module dependency check must pass on the tree and fail on each kind of violation."""
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
SCRIPT = os.path.join(ROOT, "scripts", "check-module-deps.py")
ORDER = os.environ.get("HERALD_MODULE_ORDER",
                       "core > sse,tenancy,store > auth,bus,net,route > config > app > cli")


def run(src):
    p = subprocess.run([sys.executable, SCRIPT, "--order", ORDER, src], capture_output=True, text=True)
    return p.returncode, p.stdout + p.stderr


class ModuleDeps(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="herald-deps-")
        self.src = os.path.join(self.tmp, "src")
        shutil.copytree(os.path.join(ROOT, "src"), self.src)

    def tearDown(self):
        shutil.rmtree(self.tmp)

    def edit(self, rel, old, new):
        path = os.path.join(self.src, rel)
        with open(path, encoding="utf-8") as f:
            text = f.read()
        self.assertIn(old, text, rel)
        with open(path, "w", encoding="utf-8") as f:
            f.write(text.replace(old, new, 1))

    def test_the_tree_follows_the_order(self):
        code, out = run(os.path.join(ROOT, "src"))
        self.assertEqual(code, 0, out)

    def test_an_include_of_a_later_module_fails(self):
        with open(os.path.join(self.src, "bus", "key_slot.cpp"), "a", encoding="utf-8") as f:
            f.write('\n#include "app/gateway.hpp"\n')
        code, out = run(self.src)
        self.assertEqual(code, 1)
        self.assertIn("includes app/gateway.hpp, but app/ is not before bus/", out)

    def test_an_include_of_an_unlinked_library_fails(self):
        self.edit("config/CMakeLists.txt", "herald_auth_options ", "")
        code, out = run(self.src)
        self.assertEqual(code, 1)
        self.assertIn("includes auth/auth_options.hpp (herald_auth_options), which herald_config "
                      "does not link", out)

    def test_linking_a_library_whose_headers_are_not_included_fails(self):
        self.edit("auth/CMakeLists.txt", "herald_store ", "herald_store herald_store_sqlite ")
        code, out = run(self.src)
        self.assertEqual(code, 1)
        self.assertIn("herald_auth links herald_store_sqlite but includes none of its headers", out)


if __name__ == "__main__":
    unittest.main()
