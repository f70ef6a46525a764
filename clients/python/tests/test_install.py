"""The package installs with pip, offline, on Debian's Python: a venv that sees Debian's
python3-setuptools and python3-wheel, and `pip install --no-build-isolation --no-index`. The
installed copy (not the source tree) is then imported and used, and ships its PEP 561 marker."""
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

PACKAGE_DIR = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))

SMOKE = r"""
import os, sys, herald_publisher as hp
here = os.path.dirname(hp.__file__)
assert "site-packages" in here, here
assert os.path.isfile(os.path.join(here, "py.typed"))
class Rec(hp.Publisher):
    def __init__(self): self.sent = []
    def publish_many(self, events): self.sent.extend(events); return len(events)
rec = Rec()
ch = hp.make_channel("scan-progress", "12646005-9067-4D2A-A098-8BB378604362", "42")
hp.send_event(ch, "scan.progress", {"checked": 1}, publisher=rec)
print(hp.__version__, rec.sent[0].channel, rec.sent[0].data)
"""


class InstallTest(unittest.TestCase):
    def test_pip_installs_the_package_offline(self):
        tmp = tempfile.mkdtemp(prefix="herald-pyinstall-")
        self.addCleanup(shutil.rmtree, tmp, True)
        # A copy: setuptools writes build/ and *.egg-info next to the sources it builds.
        source = os.path.join(tmp, "src")
        shutil.copytree(
            PACKAGE_DIR,
            source,
            ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__", ".mypy_cache"),
        )
        venv = os.path.join(tmp, "venv")
        subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", venv], check=True)
        py = os.path.join(venv, "bin", "python")
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PIP_FIND_LINKS")}
        r = subprocess.run(
            [
                py,
                "-m",
                "pip",
                "install",
                "--no-build-isolation",
                "--no-index",
                "--no-deps",
                "--disable-pip-version-check",
                source,
            ],
            capture_output=True,
            text=True,
            env=env,
            cwd=tmp,
        )
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        r = subprocess.run([py, "-c", SMOKE], capture_output=True, text=True, env=env, cwd=tmp)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(
            r.stdout.strip(),
            "0.1.0 scan-progress:12646005-9067-4d2a-a098-8bb378604362:42" ' {"checked": 1}',
        )


if __name__ == "__main__":
    unittest.main()
