"""Entra ID built-in directory role templates the simulator knows.

Template IDs are fixed across all tenants:
https://learn.microsoft.com/en-us/entra/identity/role-based-access-control/permissions-reference
"""

from __future__ import annotations

GLOBAL_ADMINISTRATOR = "62e90394-69f5-4237-9190-012177145e10"
PRIVILEGED_ROLE_ADMINISTRATOR = "e8611ab8-c189-46e8-94e1-60213ab1f814"
APPLICATION_ADMINISTRATOR = "9b895d92-2cd3-44c7-9d02-a6ac2d5ea5c3"
CLOUD_APPLICATION_ADMINISTRATOR = "158c047a-c907-4556-b7ef-446551a6b5f7"
APPLICATION_DEVELOPER = "cf1c38e5-3621-4004-a7cb-879624dced7c"
GLOBAL_READER = "f2ef992c-3afb-46b9-b7cf-a126ee74c451"
DIRECTORY_READERS = "88d8e3e3-8f55-4a1e-953a-9b9898b8876b"
USER_ADMINISTRATOR = "fe930be7-5e62-47db-91af-98c3a49a38b1"

ROLE_TEMPLATES: dict[str, str] = {
    "Global Administrator": GLOBAL_ADMINISTRATOR,
    "Privileged Role Administrator": PRIVILEGED_ROLE_ADMINISTRATOR,
    "Application Administrator": APPLICATION_ADMINISTRATOR,
    "Cloud Application Administrator": CLOUD_APPLICATION_ADMINISTRATOR,
    "Application Developer": APPLICATION_DEVELOPER,
    "Global Reader": GLOBAL_READER,
    "Directory Readers": DIRECTORY_READERS,
    "User Administrator": USER_ADMINISTRATOR,
}
ROLE_NAMES: dict[str, str] = {v: k for k, v in ROLE_TEMPLATES.items()}

# Who may create app registrations / service principals and update any app
# (permissions reference: microsoft.directory/applications/create, .../servicePrincipals/create).
APP_MANAGERS = frozenset(
    {GLOBAL_ADMINISTRATOR, APPLICATION_ADMINISTRATOR, CLOUD_APPLICATION_ADMINISTRATOR}
)
APP_CREATORS = APP_MANAGERS | {APPLICATION_DEVELOPER}
# Who may grant consent: "Privileged Role Administrator can consent to any permission of any API;
# Cloud Application Administrator and Application Administrator can consent to any permission
# except Microsoft Graph app roles" -
# https://learn.microsoft.com/en-us/entra/identity/enterprise-apps/grant-admin-consent
CONSENT_ANY = frozenset({GLOBAL_ADMINISTRATOR, PRIVILEGED_ROLE_ADMINISTRATOR})
CONSENT_EXCEPT_GRAPH_APP_ROLES = CONSENT_ANY | {APPLICATION_ADMINISTRATOR, CLOUD_APPLICATION_ADMINISTRATOR}


def role_template_id(name_or_id: str) -> str:
    """Resolve a role display name (or a template id) to its template id.

    Raises ValueError for an unknown name so scenario files fail loudly.
    """
    if name_or_id in ROLE_TEMPLATES:
        return ROLE_TEMPLATES[name_or_id]
    if name_or_id.lower() in ROLE_NAMES:
        return name_or_id.lower()
    raise ValueError(f"unknown directory role {name_or_id!r}; known: {sorted(ROLE_TEMPLATES)}")
