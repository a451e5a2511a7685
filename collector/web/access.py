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
    "GET /metrics": IT,  # Prometheus, with an it_admin API token; operational figures only
    # what monitoring does, for students and parents (no sign-in)
    "GET /transparency": PUBLIC,
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
    "GET /api/v1/alerts/{alert_id}/deliveries": DSL,
    "GET /api/v1/devices": FLEET,
    "GET /api/v1/coverage": ANY,
    # the directory's REST (collector/directory/routes.py)
    "GET /api/v1/people": DSL,
    "GET /api/v1/people/known-cases": DSL,
    "POST /api/v1/people/import": IT,
    "GET /api/v1/people/unresolved-logins": FLEET,
    "POST /api/v1/people/logins": FLEET,
    "DELETE /api/v1/people/logins": FLEET,
    "GET /api/v1/people/special-logins": FLEET,
    "PUT /api/v1/people/special-logins": IT,
    "DELETE /api/v1/people/special-logins/{login}": IT,
    "POST /api/v1/people/flags/{flag_id}/clear": DSL,
    "GET /api/v1/people/{person_id}": DSL,
    "GET /api/v1/people/{person_id}/audit": DSL,
    "GET /api/v1/people/{person_id}/flags": DSL,
    "POST /api/v1/people/{person_id}/flags": DSL,
    "GET /api/v1/groups": FLEET,
    "POST /api/v1/groups/inventory": IT,
    "GET /api/v1/groups/devices/{device_id}/policy": FLEET,
    "GET /api/v1/groups/{name}/policy": FLEET,
    "PUT /api/v1/groups/{name}/policy": IT,
    "DELETE /api/v1/groups/{name}/policy": IT,
    "GET /api/v1/groups/{name}/policy/history": FLEET,
    "POST /api/v1/groups/{name}/members": IT,
    "DELETE /api/v1/groups/{name}/members/{external_id}": IT,
    # safeguarding console
    "GET /alerts": DSL,
    "GET /alerts/live": DSL,
    "GET /alerts/export.csv": DSL,
    "GET /alerts/{alert_id}": DSL,
    "GET /reports/weekly": DSL,
    "GET /rules": DSL,
    "POST /alerts/{alert_id}/acknowledge": DSL,
    "POST /alerts/{alert_id}/assign": DSL,
    "POST /alerts/{alert_id}/note": DSL,
    "POST /alerts/{alert_id}/close": DSL,
    "GET /student": DSL,
    # IT console
    "GET /devices": FLEET,
    "GET /directory": FLEET,
    "POST /directory/import": IT,
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
    "POST /coverage/inventory": IT,
    "GET /governance": GOVERNANCE,
    "GET /report": GOVERNANCE,
    "GET /report.pdf": GOVERNANCE,
    # the signed-in person's own account
    "GET /account": ANY,
    "POST /account/password": ANY,
    "POST /account/sign-out-others": ANY,
    # the audit log
    "GET /audit": FLEET,
}
