"""The access matrix as data: which roles may use each route. "public" needs no sign-in.

tests/collector/web/test_access.py walks every route of the app with every role and with no
one signed in, and fails if a route is missing here or behaves differently from this table.
A new route therefore has to be added here, which is the point: someone decides who may use it.
"""

from typing import Final

PUBLIC: Final = frozenset({"public"})
ANY: Final = frozenset({"dsl", "it_admin", "trustee"})
DSL: Final = frozenset({"dsl"})
IT: Final = frozenset({"it_admin"})
FLEET: Final = frozenset({"dsl", "it_admin"})
GOVERNANCE: Final = frozenset({"dsl", "trustee"})

ACCESS: Final[dict[str, frozenset[str]]] = {
    # health and the API schema
    "GET /healthz": PUBLIC,
    "GET /openapi.json": PUBLIC,
    "GET /docs": PUBLIC,
    # sign-in
    "GET /login": PUBLIC,
    "POST /login": PUBLIC,
    "GET /login/totp": PUBLIC,  # needs a password-checked session, checked inside
    "POST /login/totp": PUBLIC,
    "GET /login/oidc": PUBLIC,  # 404 unless an identity provider is configured
    "GET /login/oidc/callback": PUBLIC,
    "POST /logout": ANY,
    "GET /": ANY,
    # REST API
    "GET /api/v1/alerts": DSL,
    "GET /api/v1/alerts/precision": DSL,
    "GET /api/v1/alerts/outcomes": DSL,
    "GET /api/v1/alerts/reports/weekly": DSL,
    "GET /api/v1/alerts/{alert_id}": DSL,
    "POST /api/v1/alerts/{alert_id}/acknowledge": DSL,
    "POST /api/v1/alerts/{alert_id}/assign": DSL,
    "POST /api/v1/alerts/{alert_id}/start": DSL,
    "POST /api/v1/alerts/{alert_id}/notes": DSL,
    "POST /api/v1/alerts/{alert_id}/close": DSL,
    "GET /api/v1/devices": FLEET,
    "GET /api/v1/coverage": ANY,
    # safeguarding console
    "GET /alerts": DSL,
    "GET /alerts/live": DSL,
    "GET /alerts/export.csv": DSL,
    "GET /alerts/{alert_id}": DSL,
    "POST /alerts/{alert_id}/acknowledge": DSL,
    "POST /alerts/{alert_id}/assign": DSL,
    "POST /alerts/{alert_id}/note": DSL,
    "POST /alerts/{alert_id}/close": DSL,
    "GET /student": DSL,
    # IT console
    "GET /devices": FLEET,
    "GET /tokens": IT,
    "POST /tokens": IT,
    "POST /tokens/{token_id}/revoke": IT,
    "GET /users": IT,
    "POST /users": IT,
    "POST /users/{user_id}": IT,
    "GET /policy": FLEET,
    "POST /policy/keywords": FLEET,
    "POST /policy/keywords/{keyword_id}/withdraw": FLEET,
    "POST /policy/excluded-apps": FLEET,
    "POST /policy/notice": FLEET,
    # coverage and governance
    "GET /coverage": ANY,
    "POST /coverage/expected": IT,
    "GET /governance": GOVERNANCE,
    "GET /report": GOVERNANCE,
    "GET /report.pdf": GOVERNANCE,
    # the audit log
    "GET /audit": FLEET,
}
