"""The Windows MSI as built by wixl (with a placeholder payload): its tables read back with msiinfo,
and its custom action's command line run through the real session launcher."""

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from tests.installers.conftest import INSTALLERS, need, session_module

BUILD = INSTALLERS / "windows" / "build-msi.sh"
WXS = INSTALLERS / "windows" / "lantern-agent.wxs"
lantern_session = session_module()


def build(out: Path, version: str) -> Path:
    result = subprocess.run(
        [str(BUILD), "--placeholder", "--version", version, "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return Path(result.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def msis(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    need("wixl", "wixl-heat", "msiinfo", "msibuild", "msiextract")
    out = tmp_path_factory.mktemp("msi")
    return build(out, "0.1.0"), build(out / "next", "0.2.0")


@pytest.fixture(scope="module")
def msi(msis: tuple[Path, Path]) -> Path:
    return msis[0]


def table(msi: Path, name: str) -> list[dict[str, str]]:
    out = subprocess.run(
        ["msiinfo", "export", str(msi), name], capture_output=True, text=True, check=True
    ).stdout
    lines = out.split("\r\n") if "\r\n" in out else out.split("\n")
    columns = lines[0].split("\t")
    # line 1: column types, line 2: table name and primary keys
    return [dict(zip(columns, line.split("\t"), strict=False)) for line in lines[3:] if line]


def properties(msi: Path) -> dict[str, str]:
    return {row["Property"]: row["Value"] for row in table(msi, "Property")}


def test_per_machine_x64_package(msi: Path) -> None:
    assert msi.name == "lantern-agent-0.1.0-x64.msi"
    suminfo = subprocess.run(
        ["msiinfo", "suminfo", str(msi)], capture_output=True, text=True, check=True
    ).stdout
    assert re.search(r"^Template: x64;1033$", suminfo, re.M)  # 64-bit package (wixl --arch x64)
    props = properties(msi)
    assert props["ALLUSERS"] == "1"  # per-machine
    assert props["ProductName"] == "Lantern Agent"
    assert props["ProductVersion"] == "0.1.0"
    tables = subprocess.run(
        ["msiinfo", "tables", str(msi)], capture_output=True, text=True, check=True
    ).stdout.split()
    for name in ("CustomAction", "Registry", "Upgrade", "InstallExecuteSequence", "File"):
        assert name in tables
    # every component is a 64-bit component (msidbComponentAttributes64bit)
    assert all(int(c["Attributes"]) & 256 for c in table(msi, "Component"))


def test_silent_install_properties_are_secure_and_the_token_hidden(msi: Path) -> None:
    props = properties(msi)
    secure = props["SecureCustomProperties"].split(";")
    for name in ("COLLECTOR", "TOKEN", "ENROL_ADDRESS", "WIX_UPGRADE_DETECTED"):
        assert name in secure
    assert props["MsiHiddenProperties"] == "TOKEN"
    # never baked in: they come from the msiexec command line
    assert "COLLECTOR" not in props and "TOKEN" not in props


def test_logon_start_is_an_hklm_run_value_for_the_session_launcher(msi: Path) -> None:
    runs = [r for r in table(msi, "Registry") if r["Name"] == "LanternAgent"]
    assert len(runs) == 1
    run = runs[0]
    assert run["Root"] == "2"  # HKEY_LOCAL_MACHINE: every user
    assert run["Key"] == r"Software\Microsoft\Windows\CurrentVersion\Run"
    assert run["Value"] == '"[INSTALLDIR]lantern-agent-session.exe" --supervise'
    files = {f["File"]: f for f in table(msi, "File")}
    assert files["SessionExe"]["FileName"] == "lantern-agent-session.exe"
    assert files["SessionExe"]["Component_"] == run["Component_"]  # removed with the program
    # and the argument the Run value passes is one the launcher accepts
    args = lantern_session.build_parser().parse_args(shlex.split(run["Value"])[1:])
    assert args.supervise is True and args.func is lantern_session._cmd_session


def test_install_and_data_directories(msi: Path, tmp_path: Path) -> None:
    dirs = {d["Directory"]: d for d in table(msi, "Directory")}
    assert dirs["INSTALLDIR"]["DefaultDir"] == "Agent"
    assert dirs[dirs["INSTALLDIR"]["Directory_Parent"]]["DefaultDir"] == "Lantern"
    assert (
        dirs[dirs["INSTALLDIR"]["Directory_Parent"]]["Directory_Parent"] == "ProgramFiles64Folder"
    )
    assert dirs["DataDir"]["Directory_Parent"] == "CommonAppDataFolder"
    assert dirs["DataDir"]["DefaultDir"] == "Lantern"
    subprocess.run(["msiextract", "-C", str(tmp_path), str(msi)], check=True, capture_output=True)
    extracted = {str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file()}
    assert "Lantern/Agent/lantern-agent.exe" in extracted
    assert "Lantern/Agent/lantern-agent-session.exe" in extracted
    assert "Lantern/Agent/_internal/python311.dll" in extracted
    assert "PLACEHOLDER" in (tmp_path / "Lantern/Agent/lantern-agent.exe").read_text()


def test_custom_actions_write_config_and_clean_up_only_on_real_uninstall(msi: Path) -> None:
    actions = {a["Action"]: a for a in table(msi, "CustomAction")}
    sequence = {s["Action"]: s for s in table(msi, "InstallExecuteSequence")}
    seq = {name: int(s["Sequence"]) for name, s in sequence.items()}
    deferred, no_impersonate, exe_from_file = 1024, 2048, 18
    for name in ("WriteConfig", "CleanupOnUninstall"):
        kind = int(actions[name]["Type"])
        assert kind & 0x3F == exe_from_file and actions[name]["Source"] == "SessionExe"
        assert kind & deferred and kind & no_impersonate  # runs as LocalSystem in the script
    # WriteConfig: after the files are there, only when both properties are given, never on removal
    assert seq["InstallFiles"] < seq["WriteConfig"] < seq["InstallFinalize"]
    assert sequence["WriteConfig"]["Condition"] == 'COLLECTOR AND TOKEN AND NOT (REMOVE="ALL")'
    # check the result (Return="check"): a failed configuration fails the install
    assert not int(actions["WriteConfig"]["Type"]) & 64
    # Cleanup: before the files go, and not when an upgrade removes the old version
    assert seq["CleanupOnUninstall"] < seq["RemoveFiles"]
    assert (
        sequence["CleanupOnUninstall"]["Condition"] == 'REMOVE="ALL" AND NOT UPGRADINGPRODUCTCODE'
    )


def test_write_config_command_line_really_writes_the_config(msi: Path, tmp_path: Path) -> None:
    """Format the custom action's command line as msiexec would and run it through the launcher."""
    target = {a["Action"]: a for a in table(msi, "CustomAction")}["WriteConfig"]["Target"]
    values = {
        "DataDir": f"{tmp_path}/ProgramData/Lantern/",
        "COLLECTOR": "lantern.college.example:50051",
        "TOKEN": "lte_abc.0123456789abcdef",
        "ENROL_ADDRESS": "",
    }
    formatted = re.sub(r"\[(\w+)\]", lambda m: values[m.group(1)], target)
    assert lantern_session.main(shlex.split(formatted)) == 0
    config = lantern_session.read_config_file(tmp_path / "ProgramData/Lantern/agent.conf")
    assert config == lantern_session.MachineConfig(
        "lantern.college.example:50051", "lte_abc.0123456789abcdef", ""
    )
    cleanup = {a["Action"]: a for a in table(msi, "CustomAction")}["CleanupOnUninstall"]["Target"]
    home = tmp_path / "home" / "student"
    state = lantern_session.profile_state_dir(home)  # %LOCALAPPDATA%\lantern on Windows
    state.mkdir(parents=True)
    (state / "identity.json").write_text("{}")
    formatted = re.sub(r"\[(\w+)\]", lambda m: values[m.group(1)], cleanup)
    assert lantern_session.main([*shlex.split(formatted), "--home", str(home)]) == 0
    assert not (tmp_path / "ProgramData/Lantern/agent.conf").exists()
    assert not (tmp_path / "ProgramData/Lantern").exists()
    assert not state.exists() and home.exists()


def test_major_upgrade_same_upgrade_code_new_product_code_stable_components(
    msis: tuple[Path, Path],
) -> None:
    old, new = msis
    old_props, new_props = properties(old), properties(new)
    upgrade_code = re.search(r'UpgradeCode="([0-9A-F-]+)"', WXS.read_text())
    assert upgrade_code is not None
    assert old_props["UpgradeCode"] == new_props["UpgradeCode"] == "{" + upgrade_code[1] + "}"
    assert old_props["ProductCode"] != new_props["ProductCode"]
    rows = table(new, "Upgrade")
    detect = [r for r in rows if r["ActionProperty"] == "WIX_UPGRADE_DETECTED"]
    downgrade = [r for r in rows if r["ActionProperty"] == "WIX_DOWNGRADE_DETECTED"]
    assert detect and detect[0]["VersionMax"] == "0.2.0" and detect[0]["VersionMin"] == ""
    assert downgrade and int(downgrade[0]["Attributes"]) & 2  # detect only: refuse downgrades
    assert "RemoveExistingProducts" in {s["Action"] for s in table(new, "InstallExecuteSequence")}
    # Component GUIDs must not change between versions, or an upgrade would orphan files.
    guids = [{c["Component"]: c["ComponentId"] for c in table(m, "Component")} for m in msis]
    assert guids[0] == guids[1]


def test_version_must_be_an_msi_product_version(tmp_path: Path) -> None:
    need("wixl")
    result = subprocess.run(
        [str(BUILD), "--placeholder", "--version", "0.1.0.dev1", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2
    assert "not an MSI ProductVersion" in result.stderr


def test_launcher_module_is_importable_without_the_agent() -> None:
    """The MSI's custom actions run the launcher before any user has enrolled: configure and
    uninstall-cleanup must not import the agent (or grpc)."""
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]); import lantern_session; "
        "assert 'agent' not in sys.modules and 'grpc' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code, str(INSTALLERS / "common")], check=True)
