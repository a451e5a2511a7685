"""The agent installs on laptops with only its own dependencies: no web framework, no ORM."""

import subprocess
import sys

FORBIDDEN = ("fastapi", "uvicorn", "sqlalchemy", "starlette", "alembic", "collector")

AGENT_MODULES = [
    "agent.cli",
    "agent.runner",
    "agent.spool",
    "agent.sender",
    "agent.transport",
    "agent.status",
    "agent.observe.observer",
]


def test_importing_the_agent_loads_no_collector_dependencies() -> None:
    code = (
        "import sys, importlib\n"
        f"for m in {AGENT_MODULES!r}: importlib.import_module(m)\n"
        f"bad = sorted(m for m in sys.modules if m.split('.')[0] in {FORBIDDEN!r})\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"agent imports pulled in: {out.stdout.strip()}"


def test_a_running_agent_does_not_load_cryptography() -> None:
    """Keys are made once, at enrolment; the running agent stays ~15 MB lighter without it."""
    code = (
        "import sys, agent.runner\n"
        "print(any(m.split('.')[0] == 'cryptography' for m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
