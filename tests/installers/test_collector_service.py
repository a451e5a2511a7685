"""The collector's systemd service, settings file and admin wrapper."""

import configparser
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from collector.settings import Settings
from tests.installers.conftest import INSTALLERS, need

COLLECTOR = INSTALLERS / "collector"


def unit() -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read(COLLECTOR / "lantern-collector.service")
    return parser


def test_unit_verifies_with_systemd(tmp_path: Path) -> None:
    need("systemd-analyze")
    # The real ExecStart only exists once install-collector.sh has run; verify the rest as is.
    text = (COLLECTOR / "lantern-collector.service").read_text()
    copy = tmp_path / "lantern-collector.service"
    copy.write_text(
        text.replace(
            "/opt/lantern-collector/venv/bin/lantern-collector", shutil.which("true") or "/bin/true"
        )
    )
    result = subprocess.run(
        ["systemd-analyze", "verify", str(copy)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip() == ""


def test_unit_runs_serve_as_the_lantern_user_with_hardening() -> None:
    service = unit()["Service"]
    assert service["ExecStart"] == "/opt/lantern-collector/venv/bin/lantern-collector serve"
    assert service["User"] == "lantern" and service["Group"] == "lantern"
    assert service["StateDirectory"] == "lantern"
    assert "LANTERN_VAR_DIR=/var/lib/lantern" in service["Environment"]
    assert service["EnvironmentFile"] == "-/etc/lantern/collector.env"
    for key, value in {
        "ProtectSystem": "strict",
        "ProtectHome": "yes",
        "PrivateTmp": "yes",
        "NoNewPrivileges": "yes",
        "CapabilityBoundingSet": "",
        "RestrictSUIDSGID": "yes",
        "UMask": "0077",
    }.items():
        assert service[key] == value, key
    assert unit()["Install"]["WantedBy"] == "multi-user.target"
    sysusers = (COLLECTOR / "lantern-collector.sysusers").read_text()
    assert re.search(r"^u lantern - .* /var/lib/lantern ", sysusers, re.M)


def test_every_setting_in_the_env_file_is_a_collector_setting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    text = (COLLECTOR / "collector.env").read_text()
    assignments = re.findall(r"^#?(LANTERN_[A-Z_]+)=(.*)$", text, re.M)
    assert {name for name, _ in assignments} >= {
        "LANTERN_GRPC",
        "LANTERN_ENROL",
        "LANTERN_HTTP",
        "LANTERN_DB",
    }
    fields = {f"LANTERN_{name.upper()}" for name in Settings.model_fields}
    for name, _ in assignments:
        assert name in fields, name
    # and the values (commented ones included) parse as the collector reads them
    for name, value in assignments:
        monkeypatch.setenv(name, value)
    settings = Settings()
    assert settings.grpc == "0.0.0.0:50051"
    assert settings.enrol_address == "0.0.0.0:50052"
    assert settings.http == "127.0.0.1:8080"  # the console stays behind the reverse proxy
    assert settings.database_url.startswith("postgresql+psycopg://")
    assert settings.tls_names == ["lantern.college.example"]


def test_install_and_admin_scripts_are_valid_shell() -> None:
    subprocess.run(["bash", "-n", str(COLLECTOR / "install-collector.sh")], check=True)
    subprocess.run(["sh", "-n", str(COLLECTOR / "lantern-collector-admin")], check=True)
    admin = (COLLECTOR / "lantern-collector-admin").read_text()
    assert "runuser -u lantern -- /opt/lantern-collector/venv/bin/lantern-collector" in admin
    install = (COLLECTOR / "install-collector.sh").read_text()
    assert "/etc/systemd/system/lantern-collector.service" in install
