"""The .deb as built: control fields, file list, maintainer scripts, unit and autostart, lintian."""

import configparser
import email.parser
import os
import re
import subprocess
import tomllib
from pathlib import Path

from packaging.requirements import Requirement

from tests.installers.conftest import ROOT, need


def control_fields(deb: Path) -> dict[str, str]:
    out = subprocess.run(
        ["dpkg-deb", "-f", str(deb)], capture_output=True, text=True, check=True
    ).stdout
    return dict(email.parser.Parser().parsestr(out).items())


def file_list(deb: Path) -> list[str]:
    out = subprocess.run(
        ["dpkg-deb", "-c", str(deb)], capture_output=True, text=True, check=True
    ).stdout
    # "drwxr-xr-x root/root 0 2026-01-01 00:00 ./opt/lantern-agent/ [-> target]"
    paths = []
    for line in out.splitlines():
        name = line.split(None, 5)[5].split(" -> ")[0]
        paths.append(name.removeprefix(".").rstrip("/") or "/")
    return paths


def test_control_fields_name_version_arch_and_python_depends(deb: Path) -> None:
    fields = control_fields(deb)
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert fields["Package"] == "lantern-agent"
    assert fields["Version"] == project["version"]
    assert fields["Architecture"] == "amd64"
    assert deb.name == f"lantern-agent_{project['version']}_amd64.deb"
    # The vendored wheels are built for one python minor version: the package says which.
    assert re.search(r"python3 \(>= 3\.\d+~\), python3 \(<< 3\.\d+~\)", fields["Depends"])
    assert "debconf" in fields["Depends"]
    assert int(fields["Installed-Size"]) > 1000
    assert fields["Maintainer"].endswith(">")


def test_file_list_ships_agent_and_dependencies_but_never_the_collector(deb: Path) -> None:
    paths = set(file_list(deb))
    lib = "/opt/lantern-agent/lib"
    for expected in (
        "/opt/lantern-agent/bin/lantern-agent",
        "/opt/lantern-agent/bin/lantern-agent-session",
        "/usr/bin/lantern-agent",
        "/usr/bin/lantern-agent-session",
        "/usr/lib/systemd/user/lantern-agent.service",
        "/etc/xdg/autostart/lantern-agent.desktop",
        "/usr/share/doc/lantern-agent/copyright",
        "/usr/share/doc/lantern-agent/changelog.gz",
        "/usr/share/man/man1/lantern-agent.1.gz",
        f"{lib}/agent/cli.py",
        f"{lib}/lantern/v1/lantern_pb2.py",
        f"{lib}/lantern_session.py",
    ):
        assert expected in paths, expected
    # Every runtime dependency in pyproject is vendored (as an installed distribution).
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    dist_infos = {p.rsplit("/", 1)[-1].lower() for p in paths if p.endswith(".dist-info")}
    linux = {"sys_platform": "linux", "platform_system": "Linux", "os_name": "posix"}
    for dep in map(Requirement, deps):
        if dep.marker is not None and not dep.marker.evaluate(linux):
            continue  # e.g. comtypes on Windows only
        name = dep.name.lower().replace("-", "_")
        assert any(d.startswith(f"{name}-") for d in dist_infos), (dep, sorted(dist_infos))
    assert not any(p.startswith(f"{lib}/collector") for p in paths)
    assert not any("__pycache__" in p or p.endswith(".pyc") for p in paths)
    # The machine configuration is written by postinst (debconf) or dropped by IT: not shipped.
    assert "/etc/lantern/agent.conf" not in paths


def test_launchers_use_the_system_python_isolated_from_site_packages(deb_tree: Path) -> None:
    launcher = (deb_tree / "opt/lantern-agent/bin/lantern-agent").read_text()
    assert launcher.startswith("#!/usr/bin/python3 -IS\n")
    assert 'site.addsitedir("/opt/lantern-agent/lib")' in launcher
    assert "from agent.cli import main" in launcher
    session = (deb_tree / "opt/lantern-agent/bin/lantern-agent-session").read_text()
    assert "from lantern_session import main" in session
    assert (deb_tree / "usr/bin/lantern-agent").readlink() == Path(
        "/opt/lantern-agent/bin/lantern-agent"
    )


def test_vendored_agent_runs_with_the_system_python(deb_tree: Path) -> None:
    """The unpacked launcher (pointed at the unpacked lib) imports the agent and answers --help."""
    lib = deb_tree / "opt/lantern-agent/lib"
    code = (
        "import site, sys; site.addsitedir(sys.argv[1]); "
        "sys.argv = ['lantern-agent', '--help']; from agent.cli import main; main()"
    )
    result = subprocess.run(
        ["/usr/bin/python3", "-IS", "-c", code, str(lib)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert "enrol" in result.stdout and "status" in result.stdout
    # No source from the checkout or the venv leaked in: the agent came from the unpacked tree.
    where = subprocess.run(
        [
            "/usr/bin/python3",
            "-IS",
            "-c",
            "import site, sys; site.addsitedir(sys.argv[1]); import agent, grpc, yaml; "
            "print(agent.__file__); print(grpc.__file__); print(yaml.__file__)",
            str(lib),
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert all(p.startswith(str(lib)) for p in where), where


def test_maintainer_scripts_present_executable_and_valid_sh(deb_tree: Path) -> None:
    control = deb_tree / "DEBIAN"
    for name in ("config", "postinst", "prerm", "postrm"):
        script = control / name
        assert script.stat().st_mode & 0o111, name
        assert script.read_text().startswith("#!/bin/sh\n"), name
        subprocess.run(["sh", "-n", str(script)], check=True)
    postinst = (control / "postinst").read_text()
    # first install only: an admin's `systemctl --global disable` survives upgrades
    assert 'if [ -z "$2" ]; then\n\t\tenable_user_unit' in postinst
    assert "systemctl --global enable" in postinst
    assert 'db_set lantern-agent/token ""' in postinst
    postrm = (control / "postrm").read_text()
    assert "rm -rf /etc/lantern" in postrm
    assert "rm -rf /opt/lantern-agent" in postrm
    assert ".local/share/lantern" in postrm
    assert "db_purge" in postrm
    templates = (control / "templates").read_text()
    assert "Template: lantern-agent/collector\nType: string" in templates
    # a password-type question keeps the token out of the world-readable config.dat
    assert "Template: lantern-agent/token\nType: password" in templates
    assert (control / "conffiles").read_text().split() == [
        "/etc/xdg/autostart/lantern-agent.desktop"
    ]


def test_user_unit_and_autostart_start_the_same_session_launcher(deb_tree: Path) -> None:
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.optionxform = str  # type: ignore[assignment,method-assign]
    unit.read(deb_tree / "usr/lib/systemd/user/lantern-agent.service")
    exec_start = unit["Service"]["ExecStart"]
    assert exec_start == "/opt/lantern-agent/bin/lantern-agent-session"
    assert (deb_tree / exec_start.lstrip("/")).is_file()
    assert unit["Install"]["WantedBy"] == "graphical-session.target"
    assert unit["Service"]["Restart"] == "on-failure"
    desktop = configparser.ConfigParser(interpolation=None)
    desktop.optionxform = str  # type: ignore[assignment,method-assign]
    desktop.read(deb_tree / "etc/xdg/autostart/lantern-agent.desktop")
    entry = desktop["Desktop Entry"]
    assert entry["Exec"] == exec_start
    assert entry["Type"] == "Application"
    # desktops that start the user unit skip the autostart entry (no second agent)
    assert entry["X-GNOME-HiddenUnderSystemd"] == "true"
    assert entry["X-systemd-skip"] == "true"


def test_lintian_reports_no_errors(deb: Path) -> None:
    need("lintian")
    result = subprocess.run(
        ["lintian", "--no-tag-display-limit", str(deb)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    errors = [line for line in result.stdout.splitlines() if line.startswith("E:")]
    assert errors == [], result.stdout
    assert result.returncode == 0, result.stdout + result.stderr
    # What is left is documented in docs/installers.md.
    documented = (ROOT / "docs/installers.md").read_text()
    for line in result.stdout.splitlines():
        if line.startswith("W:"):
            tag = line.split()[2]
            assert tag in documented, f"undocumented lintian warning {tag}"


def test_user_unit_verifies_with_systemd(deb_tree: Path, tmp_path: Path) -> None:
    need("systemd-analyze")
    text = (deb_tree / "usr/lib/systemd/user/lantern-agent.service").read_text()
    # ExecStart must exist for verify: point it at a stand-in (its real path is checked above).
    unit = tmp_path / "lantern-agent.service"
    unit.write_text(text.replace("/opt/lantern-agent/bin/lantern-agent-session", "/bin/true"))
    runtime = tmp_path / "runtime"
    runtime.mkdir(mode=0o700)
    result = subprocess.run(
        ["systemd-analyze", "--user", "--man=no", "verify", str(unit)],
        capture_output=True, text=True, env={**os.environ, "XDG_RUNTIME_DIR": str(runtime)},
    )  # fmt: skip
    assert result.returncode == 0 and result.stderr.strip() == "", result.stderr
