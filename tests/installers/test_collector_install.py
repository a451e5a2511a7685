"""install-collector.sh run for real in a debootstrapped Debian 12 root, offline from a wheelhouse
built here; the collector then started the way its systemd unit starts it (user, environment,
ExecStart), an enrolment token made with the admin wrapper, an agent on this machine enrolled
against it over loopback; then the SQLite backup and restore commands of docs/deploy.md, run as
written, after which the same agent connects again."""

import configparser
import contextlib
import json
import os
import shlex
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import free_port
from tests.installers.conftest import INSTALLERS, ROOT, need
from tests.installers.debroot import DebRoot, debroot

pytestmark = [pytest.mark.installers, pytest.mark.timeout(900)]

WHEEL_CACHE = Path(os.environ.get("LANTERN_WHEEL_CACHE", "/var/tmp/lantern-wheels"))


def wheelhouse(tmp: Path) -> Path:
    """The project's wheel (built from a copy of the checkout, never in it) plus every wheel the
    collector needs, for /usr/bin/python3; dependencies are cached between runs."""
    src = tmp / "src"
    files = subprocess.run(
        ["git", "-C", str(ROOT), "ls-files", "-co", "--exclude-standard", "-z"],
        capture_output=True, check=True,
    ).stdout.split(b"\0")  # fmt: skip
    for name in filter(None, (f.decode() for f in files)):
        if (ROOT / name).is_file() and not name.startswith(("tests/", "bench/", "docs/")):
            (src / name).parent.mkdir(parents=True, exist_ok=True)
            (src / name).write_bytes((ROOT / name).read_bytes())
    venv = tmp / "venv"
    subprocess.run(["/usr/bin/python3", "-m", "venv", str(venv)], check=True)
    pip = [str(venv / "bin/python"), "-m", "pip", "-q", "--disable-pip-version-check"]
    out = tmp / "wheels"
    subprocess.run([*pip, "wheel", "--no-deps", "-w", str(out), str(src)], check=True)
    cache = WHEEL_CACHE / "collector-cp311"
    cache.mkdir(parents=True, exist_ok=True)
    (project,) = out.glob("lantern-*.whl")
    # pip saves the project's own wheel into the cache too; an old one (same version, older
    # dependencies) would be taken from there instead of the one just built.
    for stale in cache.glob("lantern-*.whl"):
        stale.unlink()
    subprocess.run(
        [*pip, "wheel", "--no-cache-dir", "--find-links", str(cache), "-w", str(cache),
         f"{project}[collector]"],
        check=True, timeout=1200,
    )  # fmt: skip
    for wheel in cache.glob("*.whl"):
        if not wheel.name.startswith("lantern-"):
            (out / wheel.name).write_bytes(wheel.read_bytes())
    return out


def unit_service() -> configparser.SectionProxy:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read(INSTALLERS / "collector" / "lantern-collector.service")
    return parser["Service"]


def doc_block(after: str) -> str:
    """The first ```sh block after `after` in docs/deploy.md."""
    text = (ROOT / "docs" / "deploy.md").read_text()
    start = text.index("```sh\n", text.index(after)) + len("```sh\n")
    return text[start : text.index("```", start)]


def start_like_the_unit(root: DebRoot, log: Path) -> subprocess.Popen[bytes]:
    """Its User, Environment, EnvironmentFile and ExecStart, as systemd would use them."""
    service = unit_service()
    command = (
        f"set -a; {service['Environment']}; . {service['EnvironmentFile'].lstrip('-')}; set +a; "
        f"exec runuser -u {service['User']} -- {service['ExecStart']}"
    )
    with log.open("ab") as out:
        return subprocess.Popen(
            ["chroot", str(root.path), "sh", "-c", command],
            stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip


def wait_healthy(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        assert process.poll() is None, log.read_text()[-3000:]
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except OSError:
            time.sleep(0.5)
    raise AssertionError(f"collector not healthy: {log.read_text()[-3000:]}")


@pytest.fixture
def root(tmp_path: Path) -> DebRoot:
    if os.geteuid() != 0:
        pytest.skip("installing into a debootstrap root needs root (chroot, mount)")
    need("debootstrap", "chroot", "/usr/bin/python3")
    with debroot(tmp_path, include=("python3", "python3-venv", "sqlite3")) as r:
        yield r


def test_install_collector_then_run_it_as_the_unit_does_and_enrol_an_agent(
    root: DebRoot, tmp_path: Path
) -> None:
    wheels = wheelhouse(tmp_path / "build")
    (project,) = wheels.glob("lantern-*.whl")
    subprocess.run(["cp", "-a", str(wheels), str(root.path / "tmp/wheels")], check=True)
    (root.path / "src/installers").mkdir(parents=True)
    subprocess.run(
        ["cp", "-a", str(INSTALLERS / "collector"), str(root.path / "src/installers/")], check=True
    )
    started = time.monotonic()
    result = root.run(
        "bash", "/src/installers/collector/install-collector.sh", "--no-start",
        "--source", f"/tmp/wheels/{project.name}", "--wheels", "/tmp/wheels", timeout=600,
    )  # fmt: skip
    print(f"install-collector.sh took {time.monotonic() - started:.0f} s")
    assert "installed" in result.stdout

    # What the script put in place.
    unit = root.path / "etc/systemd/system/lantern-collector.service"
    assert unit.read_text() == (INSTALLERS / "collector/lantern-collector.service").read_text()
    passwd = root.run("getent", "passwd", "lantern").stdout.strip().split(":")
    assert passwd[5] == "/var/lib/lantern" and passwd[6] == "/usr/sbin/nologin"
    assert int(passwd[2]) < 1000  # a system user
    env_file = root.path / "etc/lantern/collector.env"
    assert env_file.stat().st_mode & 0o777 == 0o640
    assert root.run("stat", "-c", "%U:%G %a", "/etc/lantern/collector.env").stdout.split() == [
        "root:lantern", "640",
    ]  # fmt: skip
    assert root.run("stat", "-c", "%U %a", "/var/lib/lantern").stdout.split() == ["lantern", "750"]
    assert (root.path / "usr/local/sbin/lantern-collector-admin").stat().st_mode & 0o111
    assert root.run("/opt/lantern-collector/venv/bin/python", "-c", "import fastapi, collector")

    # Loopback ports for this test in the settings file, as an admin would edit it.
    grpc, enrol, http = (f"127.0.0.1:{free_port()}" for _ in range(3))
    text = env_file.read_text()
    for key, value in (("LANTERN_GRPC", grpc), ("LANTERN_ENROL", enrol), ("LANTERN_HTTP", http)):
        text = "\n".join(
            f"{key}={value}" if line.startswith(f"{key}=") else line for line in text.splitlines()
        )
    env_file.write_text(text + "\n")

    log = tmp_path / "collector.log"
    process = start_like_the_unit(root, log)
    try:
        wait_healthy(f"http://{http}/healthz", process, log)
        ca_key = root.run("stat", "-c", "%U %a", "/var/lib/lantern/ca/ca.key").stdout.split()
        assert ca_key == ["lantern", "600"]

        # The admin wrapper makes a token (as the lantern user, with the service's settings)...
        token = root.run(
            "/usr/local/sbin/lantern-collector-admin", "tokens", "create", "--uses", "1",
            "--expires", "1h",
        ).stdout.strip().splitlines()[-1]  # fmt: skip
        # ... and an agent on this machine enrols with it over loopback.
        state = tmp_path / "agent"
        agent = Path(sys.executable).parent / "lantern-agent"
        enrolled = subprocess.run(
            [str(agent), "--state-dir", str(state), "enrol", "--collector", grpc,
             "--enrol-address", enrol, "--token", token],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert enrolled.returncode == 0, enrolled.stderr
        devices = root.run("/usr/local/sbin/lantern-collector-admin", "devices", "list").stdout
        assert os.uname().nodename in devices

        # Backup while running, as docs/deploy.md says (SQLite), then lose everything.
        root.run("sh", "-ec", doc_block("SQLite (default):"))
    finally:
        root.stop(process)
    ca_pem = (root.path / "var/lib/lantern/ca/ca.pem").read_bytes()
    root.run("sh", "-c", "rm -rf /var/lib/lantern/* /var/lib/lantern/.[!.]*")
    (backup,) = (root.path / "var/backups/lantern").glob("lantern-*.db")
    day = backup.stem.removeprefix("lantern-")
    restore = "\n".join(
        line.replace("DAY", day)
        for line in doc_block("Restore (same or a new server").splitlines()
        if not line.startswith(("systemctl", "sudo -u postgres", "#"))
    )
    root.run("sh", "-ec", f"cd /var/backups/lantern\n{restore}")
    assert (root.path / "var/lib/lantern/ca/ca.pem").read_bytes() == ca_pem

    # Restored: the collector starts, still knows the device, and the agent connects again with
    # the client certificate it got before the backup.
    process = start_like_the_unit(root, log)
    agent_run = None
    try:
        wait_healthy(f"http://{http}/healthz", process, log)
        devices = root.run("/usr/local/sbin/lantern-collector-admin", "devices", "list").stdout
        assert os.uname().nodename in devices
        with (tmp_path / "agent.log").open("ab") as out:
            agent_run = subprocess.Popen(
                [str(agent), "--state-dir", str(state), "run"],
                stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        deadline = time.monotonic() + 120
        status: dict[str, object] = {}
        while time.monotonic() < deadline and not status.get("connected"):
            time.sleep(1)
            out_json = subprocess.run(
                [str(agent), "--state-dir", str(state), "status", "--json"],
                capture_output=True, text=True, timeout=60,
            ).stdout  # fmt: skip
            status = json.loads(out_json) if out_json else {}
        assert status.get("connected") is True, (
            status,
            (tmp_path / "agent.log").read_text()[-2000:],
        )
    finally:
        if agent_run is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(agent_run.pid, signal.SIGTERM)
            agent_run.wait(30)
        root.stop(process)
    assert shlex.split(unit_service()["ExecStart"])[-1] == "serve"
