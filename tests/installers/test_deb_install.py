"""The .deb installed for real in a debootstrapped Debian 12 root: preseeded enrolment against a real
collector on loopback (the chroot shares the network namespace), the session launcher the unit
starts, upgrade, and purge.

Needs root (chroot, mount) and debootstrap; the root is cached (tests/installers/debroot.py).
"""

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import Collector
from tests.installers.conftest import need
from tests.installers.debroot import DebRoot, debroot

pytestmark = [pytest.mark.installers, pytest.mark.timeout(600)]

USER = "student"
STATE = f"/home/{USER}/.local/share/lantern"


@pytest.fixture
def root(tmp_path: Path) -> DebRoot:
    if os.geteuid() != 0:
        pytest.skip("installing into a debootstrap root needs root (chroot, mount)")
    need("debootstrap", "chroot", "dpkg-deb")
    with debroot(tmp_path) as r:
        r.run("useradd", "--create-home", "--shell", "/bin/sh", USER)
        yield r


def install(root: DebRoot, deb: Path) -> float:
    shutil.copy(deb, root.path / "tmp" / deb.name)
    started = time.monotonic()
    root.run("dpkg", "-i", f"/tmp/{deb.name}")
    return time.monotonic() - started


def status(root: DebRoot) -> dict[str, object]:
    result = root.run("lantern-agent status --json", user=USER, check=False)
    return dict(json.loads(result.stdout))


def bumped(deb: Path, version: str, workdir: Path) -> Path:
    """The same package with a higher version, for an upgrade (repacked with dpkg-deb)."""
    workdir.mkdir(parents=True, exist_ok=True)
    tree = workdir / "bumped"
    subprocess.run(["dpkg-deb", "-R", str(deb), str(tree)], check=True)
    control = tree / "DEBIAN" / "control"
    lines = [
        f"Version: {version}" if line.startswith("Version:") else line
        for line in control.read_text().splitlines()
    ]
    control.write_text("\n".join(lines) + "\n")
    out = workdir / f"lantern-agent_{version}_amd64.deb"
    subprocess.run(
        ["dpkg-deb", "--root-owner-group", "-b", str(tree), str(out)],
        check=True,
        capture_output=True,
    )
    return out


def test_preseeded_install_enrols_runs_upgrades_and_purges_clean(
    root: DebRoot, deb: Path, collector: Collector, tmp_path: Path
) -> None:
    before = root.snapshot()
    token = collector.enrolment_token(uses=5)
    root.run(
        "debconf-set-selections",
        input=(
            f"lantern-agent lantern-agent/collector string {collector.grpc}\n"
            f"lantern-agent lantern-agent/token password {token}\n"
            f"lantern-agent lantern-agent/enrol_address string {collector.enrol}\n"
        ),
    )
    seconds = install(root, deb)
    print(f"dpkg -i took {seconds:.1f} s")

    # Configuration written from debconf; the token is not left in the debconf database.
    conf = (root.path / "etc/lantern/agent.conf").read_text()
    assert f"collector = {collector.grpc}" in conf and f"token = {token}" in conf
    assert f"enrol_address = {collector.enrol}" in conf
    assert (root.path / "etc/lantern/agent.conf").stat().st_mode & 0o777 == 0o644
    assert token not in (root.path / "var/cache/debconf/passwords.dat").read_text()
    assert token not in (root.path / "var/cache/debconf/config.dat").read_text()
    # Enabled for every user's graphical session; byte-compiled.
    wants = root.path / "etc/systemd/user/graphical-session.target.wants/lantern-agent.service"
    assert os.readlink(wants) == "/usr/lib/systemd/user/lantern-agent.service"
    assert list((root.path / "opt/lantern-agent/lib/agent").glob("__pycache__/cli.*.pyc"))

    assert status(root)["enrolled"] is False
    # What the user unit runs (ExecStart), as the user, as at login: it enrols, then runs.
    session = root.spawn(
        "exec /opt/lantern-agent/bin/lantern-agent-session", USER, tmp_path / "session.log"
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            s = status(root)
            if s["enrolled"] and s.get("running") and s.get("connected"):
                break
            assert session.poll() is None, (tmp_path / "session.log").read_text()
            time.sleep(0.5)
        else:
            raise AssertionError(
                f"not enrolled/running: {s}\n{(tmp_path / 'session.log').read_text()}"
            )
        assert s["collector"] == collector.grpc
        device_id = s["device_id"]
        # A second start in the same session (XDG autostart as well as the unit) exits at once.
        second = root.run(
            "/opt/lantern-agent/bin/lantern-agent-session --attempts 1", user=USER, timeout=30
        )
        assert "already running" in second.stderr
    finally:
        root.stop(session)
    # The collector knows the device.
    devices = collector.get("/api/v1/devices", collector.api_token("it_admin"))
    assert device_id in json.dumps(devices)

    identity = (root.path / STATE.lstrip("/") / "identity.json").read_text()

    # Upgrade: identity and configuration are kept, the unit stays enabled.
    install(root, bumped(deb, "99.0.0", tmp_path))
    assert root.run("dpkg-query", "-W", "-f=${Version}", "lantern-agent").stdout == "99.0.0"
    assert (root.path / STATE.lstrip("/") / "identity.json").read_text() == identity
    assert (root.path / "etc/lantern/agent.conf").read_text() == conf
    assert wants.is_symlink()
    assert status(root)["device_id"] == device_id
    # --supervise's child command works with the package's isolated python (-IS).
    child = root.run(
        "/usr/bin/python3 -IS -c 'import site, subprocess, sys; "
        'site.addsitedir("/opt/lantern-agent/lib"); import lantern_session; '
        'sys.exit(subprocess.call([*lantern_session.agent_command(), "status"]))\'',
        user=USER, check=False,
    )  # fmt: skip
    assert child.returncode == 0 and "enrolled:        yes" in child.stdout, child.stderr

    # An admin's `systemctl --global disable` survives the next upgrade.
    wants.unlink()
    install(root, bumped(deb, "99.0.1", tmp_path / "again"))
    assert not wants.exists() and not wants.is_symlink()

    # Purge: nothing of the package is left, per-user state included, nothing else is touched.
    root.run("dpkg", "--purge", "lantern-agent")
    after = root.snapshot()
    home = {p for p in after - before if p.startswith(f"/home/{USER}")}
    assert not any(".local/share/lantern" in p for p in home), sorted(home)
    leftovers = after - before - home - {"/var/lib/dpkg/info/format"}
    assert sorted(leftovers) == [], "left behind by purge"
    assert sorted(before - after) == [], "removed by purge but not ours"
    assert root.run("dpkg-query", "-W", "lantern-agent", check=False).returncode != 0
    assert root.run("sh", "-c", "debconf-show lantern-agent").stdout.strip() == ""


def test_config_file_dropped_before_install_is_kept_and_used(
    root: DebRoot, deb: Path, collector: Collector
) -> None:
    token = collector.enrolment_token(uses=1)
    conf = root.path / "etc/lantern/agent.conf"
    conf.parent.mkdir(parents=True)
    text = (
        "# dropped by the imaging script\n[agent]\n"
        f"collector = {collector.grpc}\ntoken = {token}\nenrol_address = {collector.enrol}\n"
    )
    conf.write_text(text)
    conf.chmod(0o644)

    install(root, deb)

    assert conf.read_text() == text  # not rewritten: IT's comments survive
    result = root.run("lantern-agent-session --enrol-only --attempts 3", user=USER, timeout=90)
    assert result.returncode == 0, result.stderr
    s = status(root)
    assert s["enrolled"] is True and s["collector"] == collector.grpc
    assert (root.path / STATE.lstrip("/") / "identity.json").stat().st_mode & 0o777 == 0o600
