"""Fixtures for the installer tests: packages built once per run, tool checks, the marker."""

import importlib.util
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from tests.conftest import Collector, collector_in

ROOT = Path(__file__).resolve().parents[2]
INSTALLERS = ROOT / "installers"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "installers: installs the .deb into a debootstrap root (needs root, ~1 min)"
    )


def session_module() -> ModuleType:
    """installers/common/lantern_session.py, imported as the module `lantern_session`."""
    if "lantern_session" in sys.modules:
        return sys.modules["lantern_session"]
    path = INSTALLERS / "common" / "lantern_session.py"
    spec = importlib.util.spec_from_file_location("lantern_session", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["lantern_session"] = module
    spec.loader.exec_module(module)
    return module


def need(*tools: str) -> None:
    missing = [t for t in tools if shutil.which(t) is None]
    if missing:
        pytest.skip(f"needs {', '.join(missing)} (Debian packages listed in docs/installers.md)")


def build_deb(out: Path, *args: str) -> Path:
    result = subprocess.run(
        [str(INSTALLERS / "linux" / "build-deb.sh"), "--out", str(out), *args],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    deb = Path(result.stdout.strip().splitlines()[-1])
    assert deb.is_file()
    return deb


@pytest.fixture(scope="session")
def deb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """lantern-agent_<version>_amd64.deb built from this checkout by installers/linux/build-deb.sh."""
    need("dpkg-deb", "/usr/bin/python3")
    return build_deb(tmp_path_factory.mktemp("deb"))


@pytest.fixture(scope="session")
def deb_tree(deb: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The .deb unpacked (files and DEBIAN/ control area) with dpkg-deb -R."""
    tree = tmp_path_factory.mktemp("deb-tree") / "root"
    subprocess.run(["dpkg-deb", "-R", str(deb), str(tree)], check=True)
    yield tree


# Loading the detection engine has taken over a minute when several test runs share two CPUs.
PATIENT_START_S = 240.0


@pytest.fixture
def collector(tmp_path: Path) -> Iterator[Collector]:
    """A real `lantern-collector serve` on loopback, with a start-up allowance for a loaded build
    machine."""
    c = collector_in(tmp_path)
    try:
        c.start(timeout=PATIENT_START_S)
        yield c
    finally:
        c.stop()
