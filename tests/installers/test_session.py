"""The session launcher every installer starts: machine configuration, enrol-if-needed with backoff,
one agent per session, uninstall cleanup; and for real against a collector on loopback."""

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import Collector
from tests.installers.conftest import INSTALLERS, session_module

ls = session_module()


def identity(sdir: Path) -> None:
    sdir.mkdir(parents=True, exist_ok=True)
    (sdir / "identity.json").write_text(
        json.dumps({"instance_id": "i", "collector": "c:1", "device_id": "d", "device_secret": "s"})
    )


def test_config_round_trip_and_world_readable(tmp_path: Path) -> None:
    path = tmp_path / "etc" / "agent.conf"
    config = ls.MachineConfig("lantern.example:50051", "lte_x.abc", "lantern.example:50052")
    ls.write_config(path, config)
    assert ls.read_config_file(path) == config
    assert path.stat().st_mode & 0o777 == 0o644
    assert not list(path.parent.glob("*.tmp"))


def test_config_missing_or_without_section_is_incomplete(tmp_path: Path) -> None:
    assert ls.read_config_file(tmp_path / "nope.conf").complete is False
    other = tmp_path / "other.conf"
    other.write_text("collector = x:1\n[other]\ntoken = t\n")
    # not an INI file (no section header): reported, treated as no configuration, no crash
    assert ls.read_config_file(other) == ls.MachineConfig("", "")
    other.write_text("[other]\ncollector = x:1\ntoken = t\n")
    assert ls.read_config_file(other).complete is False


def test_config_written_by_the_deb_postinst_parses(tmp_path: Path) -> None:
    """postinst writes the file with a heredoc; the launcher must read exactly what it writes."""
    postinst = (INSTALLERS / "linux/debian/postinst").read_text()
    start = postinst.index("write_conf() {")
    function = postinst[start : postinst.index("\n}\n", start) + 3]
    script = f'CONF_DIR={tmp_path}\nCONF=$CONF_DIR/agent.conf\n{function}write_conf "h:1" "lte_a.b" "h:2"\n'
    subprocess.run(["sh", "-ec", script], check=True)
    assert ls.read_config_file(tmp_path / "agent.conf") == ls.MachineConfig("h:1", "lte_a.b", "h:2")


def test_configure_keeps_unset_keys(tmp_path: Path) -> None:
    path = tmp_path / "agent.conf"
    assert ls.main(["--config", str(path), "configure", "--collector", "a:1", "--token", "t1"]) == 0
    assert (
        ls.main(["--config", str(path), "configure", "--token", "t2", "--enrol-address", ""]) == 0
    )
    assert ls.read_config_file(path) == ls.MachineConfig("a:1", "t2", "")
    # nothing given (an MSI upgrade without properties would not even run it): file untouched
    before = path.read_text()
    assert ls.main(["--config", str(path), "configure"]) == 0
    assert path.read_text() == before


def test_ensure_enrolled_retries_with_capped_jittered_backoff(tmp_path: Path) -> None:
    conf = tmp_path / "agent.conf"
    ls.write_config(conf, ls.MachineConfig("c:1", "tok", "c:9"))
    sdir = tmp_path / "state"
    calls: list[list[str]] = []
    sleeps: list[float] = []

    def agent(argv: list[str]) -> int:
        calls.append(argv)
        if len(calls) < 9:
            return 1  # collector unreachable
        identity(sdir)
        return 0

    assert ls.ensure_enrolled(sdir, conf, sleep=sleeps.append, agent=agent) is True
    assert len(calls) == 9 and len(sleeps) == 8
    assert calls[0] == [
        "--state-dir", str(sdir), "enrol", "--collector", "c:1", "--token", "tok",
        "--enrol-address", "c:9",
    ]  # fmt: skip
    assert all(0 <= s <= ls.BACKOFF_CAP_S for s in sleeps)
    assert max(sleeps) <= ls.BACKOFF_FIRST_S * 2**7


def test_ensure_enrolled_gives_up_after_max_attempts_and_skips_when_enrolled(
    tmp_path: Path,
) -> None:
    conf = tmp_path / "agent.conf"
    ls.write_config(conf, ls.MachineConfig("c:1", "tok"))
    calls: list[list[str]] = []
    ok = ls.ensure_enrolled(
        tmp_path / "s", conf, max_attempts=3, sleep=lambda s: None,
        agent=lambda argv: calls.append(argv) or 1,
    )  # fmt: skip
    assert ok is False and len(calls) == 3
    assert "--enrol-address" not in calls[0]  # only passed when configured
    # no configuration: never calls the agent
    calls.clear()
    assert not ls.ensure_enrolled(
        tmp_path / "s", tmp_path / "missing.conf", max_attempts=2, sleep=lambda s: None,
        agent=lambda argv: calls.append(argv) or 0,
    )  # fmt: skip
    assert calls == []
    # already enrolled: no enrolment at all (upgrade, re-login)
    identity(tmp_path / "enrolled")
    assert ls.ensure_enrolled(tmp_path / "enrolled", conf, agent=lambda argv: 1 / 0) is True


def test_session_lock_is_exclusive_per_state_dir(tmp_path: Path) -> None:
    first = ls.SessionLock(tmp_path / "state" / ls.LOCK_FILE)
    second = ls.SessionLock(tmp_path / "state" / ls.LOCK_FILE)
    assert first.acquire() is True
    assert second.acquire() is False
    # and across processes (systemd unit and XDG autostart are two processes)
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]); import lantern_session as ls; "
        "from pathlib import Path; "
        "sys.exit(0 if ls.SessionLock(Path(sys.argv[2])).acquire() else 3)"
    )
    args = [sys.executable, "-c", code, str(INSTALLERS / "common"), str(first.path)]
    assert subprocess.run(args).returncode == 3
    first.release()
    assert subprocess.run(args).returncode == 0
    assert second.acquire() is True
    second.release()


def test_second_session_exits_zero_without_enrolling(tmp_path: Path) -> None:
    sdir = tmp_path / "state"
    held = ls.SessionLock(sdir / ls.LOCK_FILE)
    assert held.acquire()
    try:
        # no configuration anywhere: if it tried to enrol it would loop; it must return at once
        code = ls.main(
            ["--config", str(tmp_path / "none.conf"), "--state-dir", str(sdir), "--attempts", "1"]
        )
        assert code == 0
    finally:
        held.release()


def test_uninstall_cleanup_never_follows_symlinks(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "keep.txt").write_text("not lantern's")
    homes = [tmp_path / "alice", tmp_path / "mallory"]
    alice_state = ls.profile_state_dir(homes[0])
    alice_state.mkdir(parents=True)
    (alice_state / "spool.db").write_text("x")
    mallory_state = ls.profile_state_dir(homes[1])
    mallory_state.parent.mkdir(parents=True)
    mallory_state.symlink_to(victim)
    conf = tmp_path / "etc" / "agent.conf"
    ls.write_config(conf, ls.MachineConfig("c:1", "t"))
    removed = ls.uninstall_cleanup(conf, homes)
    assert set(removed) == {conf, alice_state, mallory_state}
    assert not alice_state.exists() and not mallory_state.is_symlink()
    assert (victim / "keep.txt").read_text() == "not lantern's"
    assert not conf.parent.exists()


def test_session_enrols_for_real_against_a_collector(collector: Collector, tmp_path: Path) -> None:
    """The launcher, run as the installers run it, enrols the user from the machine config."""
    conf = tmp_path / "agent.conf"
    ls.write_config(
        conf,
        ls.MachineConfig(
            collector.grpc, collector.enrolment_token(uses=1), getattr(collector, "enrol", "")
        ),
    )
    home = tmp_path / "home"
    env = {
        **os.environ,
        "HOME": str(home),
        "XDG_DATA_HOME": str(home / ".local/share"),
        "LANTERN_AGENT_CONF": str(conf),
    }
    launcher = [sys.executable, str(INSTALLERS / "common" / "lantern_session.py")]
    result = subprocess.run(
        [*launcher, "--enrol-only", "--attempts", "3"], env=env, capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    status = subprocess.run(
        [str(Path(sys.executable).parent / "lantern-agent"), "status", "--json"],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    data = json.loads(status.stdout)
    assert data["enrolled"] is True and data["collector"] == collector.grpc
    assert data["state_dir"] == str(home / ".local/share/lantern")
    # A second login: already enrolled, the single-use token is not needed again.
    again = subprocess.run(
        [*launcher, "--enrol-only", "--attempts", "1"], env=env, capture_output=True, text=True,
        timeout=60,
    )  # fmt: skip
    assert again.returncode == 0, again.stderr
    status = subprocess.run(
        [str(Path(sys.executable).parent / "lantern-agent"), "status", "--json"],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert json.loads(status.stdout)["device_id"] == data["device_id"]


def test_supervised_child_command_runs_the_agent_cli(tmp_path: Path) -> None:
    """--supervise starts the agent as a child with the launcher's own imports."""
    cmd = ls.agent_command()
    result = subprocess.run(
        [*cmd, "--state-dir", str(tmp_path / "state"), "status", "--json"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 1, result.stderr  # not enrolled
    assert json.loads(result.stdout)["enrolled"] is False
