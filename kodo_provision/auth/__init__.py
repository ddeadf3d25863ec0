"""Sign-in: the only package that imports azure.identity.

Four ways to sign in (`--auth`):
- device-code (default): works over SSH and in Cloud Shell: the prompt goes to stderr and the
  admin approves on any device (user.py);
- browser: authorization code with PKCE through the system browser and a redirect to
  http://localhost:<port> (for tenants whose Conditional Access blocks the device-code flow) (user.py);
- client-secret / certificate: the operator's own automation app (client credentials) that is
  already consented in the customer tenant; no user, no prompt (app.py).
errors.py turns every sign-in failure into one line with a fix-it hint; common.py holds what they share.
"""

from .app import (
    AUTOMATION_APP_ROLES,
    AppCaller,
    AppIdentitySignIn,
    AppOnlyCertificateTokens,
    AppOnlyTokens,
    AuthSettings,
    acquire_app_token,
    app_only_tokens,
)
from .common import (
    ADMIN_SCOPES,
    AUTH_METHODS,
    GRAPH_CLI_CLIENT_ID,
    READ_SCOPES,
    TENANT_PATTERN,
    decode_claims,
    validate_tenant,
)
from .errors import CONDITIONAL_ACCESS_CODES, translate_auth_error
from .user import (
    SIGN_IN_CLASSES,
    TOKEN_CACHE_NAME,
    AsyncCredential,
    BrowserSignIn,
    BulkDeviceCodeSignIn,
    DeviceCodeSignIn,
    InteractiveSignIn,
    SignedInUser,
    print_device_code_prompt,
)

__all__ = [
    "app_only_tokens",
    "ADMIN_SCOPES", "AUTH_METHODS", "AUTOMATION_APP_ROLES", "CONDITIONAL_ACCESS_CODES", "GRAPH_CLI_CLIENT_ID",
    "READ_SCOPES",
    "SIGN_IN_CLASSES", "TENANT_PATTERN", "TOKEN_CACHE_NAME", "AppCaller", "AppIdentitySignIn",
    "AppOnlyCertificateTokens", "AppOnlyTokens", "AsyncCredential", "AuthSettings", "BrowserSignIn",
    "BulkDeviceCodeSignIn",
    "DeviceCodeSignIn", "InteractiveSignIn", "SignedInUser", "acquire_app_token", "decode_claims",
    "print_device_code_prompt", "translate_auth_error", "validate_tenant",
]
