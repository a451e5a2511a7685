"""The rules page: the rules in force and each rule's record from closed alerts."""

from typing import Any

from sqlalchemy import update

from collector.store import SqlStore
from collector.store import models as m
from collector.triggers.rules import load_rules
from tests.collector.web.conftest import add_alert, add_device


def test_each_rule_is_listed_with_its_precision(as_role: Any, store: SqlStore) -> None:
    rule = next(r for r in load_rules().rules if not r.building_block and not r.coverage)
    device = add_device(store, "LAB-09")
    alerts = [add_alert(store, device, category="self_harm") for _ in range(4)]
    outcomes = ["false_positive", "social_care_referral", "spoke_with_student", None]
    with store.engine.begin() as conn:
        for alert_id, outcome in zip(alerts, outcomes, strict=True):
            conn.execute(
                update(m.alerts)
                .where(m.alerts.c.id == alert_id)
                .values(rule=rule.id, status="closed" if outcome else "new", outcome=outcome)
            )
    page = as_role("dsl").get("/rules")
    assert page.status_code == 200
    row = page.text.split(f'<tr data-rule="{rule.id}">')[1].split("</tr>")[0]
    cells = [c.split("</td>")[0] for c in row.split('<td class="num">')[1:]]
    assert cells == ["1", "3", "1", "67%"]  # open, closed, false positives, precision
    assert page.text.count("<tr data-rule=") == sum(
        1 for r in load_rules().rules if not r.building_block
    )
    assert as_role("it_admin").get("/rules").status_code == 403
