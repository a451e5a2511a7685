import io
import json

from lantern.detection import Engine
from lantern.detection.scan import scan_lines


def test_scan_lines_protocol(engine: Engine) -> None:
    lines = [
        {"id": "a", "text": "i want to kill myself", "source": "typed"},
        {"id": "b", "text": "the weather is nice today", "source": "title"},
        {"id": 3, "text": "I don't want to kill myself"},
    ]
    stdin = io.StringIO("\n".join(json.dumps(x) for x in lines) + "\nnot json\n")
    stdout = io.StringIO()
    errors = scan_lines(stdin, stdout, engine)
    out = [json.loads(x) for x in stdout.getvalue().splitlines()]
    assert errors == 1
    assert [o["id"] for o in out] == ["a", "b", 3, None]
    hit = out[0]["hits"][0]
    assert set(hit) == {"category", "severity", "rule", "matched", "base_severity", "reasons"}
    assert hit["category"] == "suicide" and hit["severity"] >= 3
    assert out[1]["hits"] == []
    assert out[2]["hits"][0]["severity"] < 3
    assert "error" in out[3]
