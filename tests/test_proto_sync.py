"""The committed wire code must be what the .proto generates today."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GENERATED = ["lantern_pb2.py", "lantern_pb2.pyi", "lantern_pb2_grpc.py"]


def test_generated_code_matches_proto(tmp_path: Path) -> None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "grpc_tools.protoc",
            f"-I{ROOT / 'protos'}",
            f"--python_out={tmp_path}",
            f"--pyi_out={tmp_path}",
            f"--grpc_python_out={tmp_path}",
            str(ROOT / "protos/lantern/v1/lantern.proto"),
        ],
        check=True,
    )
    for name in GENERATED:
        fresh = (tmp_path / "lantern/v1" / name).read_text()
        committed = (ROOT / "lantern/v1" / name).read_text()
        assert fresh == committed, f"lantern/v1/{name} is stale: run `make proto` and commit"
