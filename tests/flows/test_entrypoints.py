"""Every flow loads the way a Prefect worker loads it: by file path, in a fresh process.

A worker (and ``flows serve``) runs ``load_script_as_module("flows/prep.py")``, which puts ``flows/``
first on ``sys.path``: a module there named like a top-level package or module (``calendars``, ``dosing``,
``calendar``, ``json``) hides it, and every run crashes with ``ModuleNotFoundError``. The test process
has those packages imported already, so only a fresh interpreter shows the crash.
"""

from __future__ import annotations

import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
FLOWS = ROOT / "flows"

LOAD_LIKE_A_WORKER = """
import sys
from prefect.flows import load_flow_from_entrypoint
from prefect.utilities.importtools import load_script_as_module

path, function = sys.argv[1].split(":")
module = load_script_as_module(path)
assert callable(getattr(module, function)), function
flow = load_flow_from_entrypoint(sys.argv[1])
print(flow.name)
"""


def _entrypoints() -> list[str]:
    config = yaml.safe_load((ROOT / "prefect.yaml").read_text())
    return [entry["entrypoint"] for entry in config["deployments"]]


@pytest.mark.parametrize("entrypoint", _entrypoints())
def test_each_prefect_yaml_entrypoint_loads_by_path_in_a_fresh_process(entrypoint: str) -> None:
    # The worker's pull step sets the working directory to the checkout; nothing else is imported yet.
    loaded = subprocess.run(
        [sys.executable, "-c", LOAD_LIKE_A_WORKER, entrypoint],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": "/usr/bin:/bin", "DO_NOT_TRACK": "1", "PREFECT_SERVER_ANALYTICS_ENABLED": "false"},
    )
    assert loaded.returncode == 0, loaded.stderr[-3000:]
    assert loaded.stdout.strip(), "no flow name printed"


def test_every_flow_module_loads_by_path_in_a_fresh_process() -> None:
    # Not only the deployed ones: `dosing flows run` may be served the same way tomorrow.
    script = (
        "import sys\nfrom prefect.utilities.importtools import load_script_as_module\n"
        "for path in sys.argv[1:]:\n    load_script_as_module(path)\n"
    )
    modules = [str(path.relative_to(ROOT)) for path in sorted(FLOWS.glob("*.py")) if path.stem != "__init__"]
    loaded = subprocess.run(
        [sys.executable, "-c", script, *modules], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert loaded.returncode == 0, loaded.stderr[-3000:]


def test_no_flow_module_shares_a_name_with_a_top_level_module_or_package() -> None:
    flow_modules = {path.stem for path in FLOWS.glob("*.py")} - {"__init__"}
    # Everything `import NAME` could mean without flows/ on the path: the standard library, installed
    # distributions, and this checkout's own packages.
    top_level = set(sys.stdlib_module_names)
    # Other tests may have loaded a flow by path, which leaves flows/ on sys.path: not a place to look.
    search = [entry for entry in sys.path if Path(entry or ".").resolve() != FLOWS.resolve()]
    top_level |= {module.name for module in pkgutil.iter_modules(search) if not module.name.startswith("_")}
    top_level |= {path.name for path in ROOT.iterdir() if (path / "__init__.py").exists()}
    top_level -= {"flows"}
    assert flow_modules, "no flow modules found"
    assert sorted(flow_modules & top_level) == []
