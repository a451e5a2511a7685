"""macOS: the LaunchAgent, the PPPC and settings profiles (validated with plistlib), the pkg scripts."""

import plistlib
import re
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.installers.conftest import INSTALLERS, session_module

MAC = INSTALLERS / "macos"
APP = "/Library/Application Support/Lantern/Lantern Agent.app"
BUNDLE_ID = "uk.ac.lantern.agent"


def load(name: str) -> dict[str, Any]:
    with (MAC / name).open("rb") as f:
        data = plistlib.load(f)
    assert isinstance(data, dict)
    return data


def test_launch_agent_starts_the_session_launcher_in_every_gui_login() -> None:
    plist = load("uk.ac.lantern.agent.plist")
    assert plist["Label"] == BUNDLE_ID
    assert plist["ProgramArguments"] == [f"{APP}/Contents/MacOS/lantern-agent-session"]
    assert plist["LimitLoadToSessionType"] == ["Aqua"]  # GUI logins only
    assert plist["RunAtLoad"] is True
    # restarted after a crash, not after a clean exit (a second instance exits 0)
    assert plist["KeepAlive"] == {"SuccessfulExit": False}
    assert plist["AssociatedBundleIdentifiers"] == [BUNDLE_ID]


def test_pkg_payload_paths_agree_across_build_scripts_and_spec() -> None:
    build = (MAC / "build-pkg.sh").read_text()
    assert "Library/LaunchAgents/uk.ac.lantern.agent.plist" in build
    assert f'"$ROOT{APP}"' in build
    spec = (MAC / "lantern-agent-macos.spec").read_text()
    assert f'bundle_identifier="{BUNDLE_ID}"' in spec
    assert 'name="lantern-agent-session"' in spec  # the executable the LaunchAgent runs
    assert 'name="Lantern Agent.app"' in spec
    cli = (MAC / "lantern-agent-cli.sh").read_text()
    assert f'"{APP}/Contents/MacOS/lantern-agent-session" --agent "$@"' in cli
    for script in ("scripts/preinstall", "scripts/postinstall", "uninstall.sh"):
        path = MAC / script
        assert path.stat().st_mode & 0o111, script
        subprocess.run(["sh", "-n", str(path)], check=True)
        assert "/Library/LaunchAgents/uk.ac.lantern.agent.plist" in path.read_text()
    subprocess.run(["bash", "-n", str(MAC / "build-pkg.sh")], check=True)


def _payload_uuids(profile: dict[str, Any]) -> list[str]:
    return [profile["PayloadUUID"], *(p["PayloadUUID"] for p in profile["PayloadContent"])]


@pytest.mark.parametrize(
    "name", ["lantern-agent-pppc.mobileconfig", "lantern-agent-settings.mobileconfig"]
)
def test_profiles_are_well_formed_configuration_profiles(name: str) -> None:
    profile = load(name)
    assert profile["PayloadType"] == "Configuration"
    assert profile["PayloadVersion"] == 1
    assert profile["PayloadScope"] == "System"
    assert profile["PayloadIdentifier"].startswith(BUNDLE_ID)
    uuids = _payload_uuids(profile)
    assert len(set(uuids)) == len(uuids)
    for u in uuids:
        assert str(uuid.UUID(u)).upper() == u
    for payload in profile["PayloadContent"]:
        for key in ("PayloadType", "PayloadIdentifier", "PayloadVersion", "PayloadUUID"):
            assert key in payload


def test_pppc_grants_accessibility_and_lets_the_user_approve_input_monitoring() -> None:
    profile = load("lantern-agent-pppc.mobileconfig")
    (tcc,) = profile["PayloadContent"]
    assert tcc["PayloadType"] == "com.apple.TCC.configuration-profile-policy"
    services = tcc["Services"]
    for service, authorization in (
        ("Accessibility", "Allow"),  # MDM may grant it
        # Apple does not let MDM grant these; a standard user may approve them
        ("ListenEvent", "AllowStandardUserToSetSystemService"),
        ("ScreenCapture", "AllowStandardUserToSetSystemService"),
    ):
        (entry,) = services[service]
        assert entry["Identifier"] == BUNDLE_ID
        assert entry["IdentifierType"] == "bundleID"
        assert entry["Authorization"] == authorization
        assert "Allowed" not in entry  # the old key; Authorization replaces it
        assert re.match(
            rf'identifier "{re.escape(BUNDLE_ID)}" and anchor apple generic',
            entry["CodeRequirement"],
        )


def test_managed_settings_profile_is_what_the_launcher_reads(tmp_path: Path) -> None:
    session = session_module()
    (prefs,) = load("lantern-agent-settings.mobileconfig")["PayloadContent"]
    assert prefs["PayloadType"] == session.MACOS_DOMAIN == BUNDLE_ID
    # macOS writes the payload's keys to /Library/Managed Preferences/<domain>.plist
    managed = {k: v for k, v in prefs.items() if not k.startswith("Payload")}
    managed["EnrolAddress"] = "lantern.college.example:50052"
    (tmp_path / f"{BUNDLE_ID}.plist").write_bytes(plistlib.dumps(managed))
    config = session._macos_managed(tmp_path)
    assert config.collector == prefs["Collector"] == "lantern.college.example:50051"
    assert config.token == prefs["Token"]
    assert config.enrol_address == "lantern.college.example:50052"
    assert session._macos_managed(tmp_path / "missing").complete is False
