import pytest

from lantern.detection import Engine


@pytest.fixture(scope="session")
def engine() -> Engine:
    return Engine.load()


def alerts(engine: Engine, text: str, source: str = "typed") -> list[str]:
    """Rules that alert (severity >= 3) on ``text``."""
    return [h.rule for h in engine.scan(text, source) if h.severity >= 3]
