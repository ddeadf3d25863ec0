"""Path aliases Microsoft Graph accepts in front of a resource path.

`/v1.0/myorganization/applications` is answered like `/v1.0/applications`: `myorganization` names the
signed-in tenant, as it did in Azure AD Graph (https://graph.windows.net/myorganization/...,
https://learn.microsoft.com/en-us/previous-versions/azure/ad/graph/howto/azure-ad-graph-api-operations-overview).
The Microsoft Graph reference does not list the alias, but Graph serves it and Microsoft's own clients use it:
CLI for Microsoft 365 sends every Entra call as https://graph.microsoft.com/v1.0/myorganization/...
(src/utils/entraApp.ts, m365/entra/commands/app/app-add.ts in pnp/cli-microsoft365).
"""

from __future__ import annotations

import re

_TENANT_ALIAS = re.compile(r"^/myorganization(?=/|$)", re.IGNORECASE)


def strip_tenant_alias(path: str) -> str:
    """`/myorganization/applications` -> `/applications`; other paths unchanged."""
    return _TENANT_ALIAS.sub("", path, count=1) or "/"
