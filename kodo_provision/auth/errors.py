"""Sign-in failures -> one-line errors with a fix-it hint (AADSTS codes, Conditional Access,
network and TLS)."""

from __future__ import annotations

import re

from azure.core.exceptions import IncompleteReadError, ServiceRequestError, ServiceResponseError

from ..errors import KodoError, NetworkError, SignInError, clip

# AADSTS codes a sign-in can end with, and what the admin should do about each.
# https://learn.microsoft.com/en-us/entra/identity-platform/reference-error-codes
_AADSTS_HINTS = {
    "90002": "tenant not found: check the tenant ID or domain (and --cloud)",
    "900023": "the tenant is not a valid tenant ID or domain",
    "70000": "the sign-in was declined: run again and approve the sign-in",
    # Also how a sign-in ends when the account may not consent: Entra shows "Need admin approval"
    # and the user can only go back (consent is given only by an admin on that page).
    "65004": "the sign-in ended without consent: if you saw \"Need admin approval\", this account may not consent "
             "to the tool's permissions - sign in as a Global Administrator or Privileged Role Administrator "
             "(or have one sign in once); otherwise run again and accept",
    "70016": "the sign-in was not completed in time: run again and enter the code sooner",
    "7000218": "the code expired: run again",
    "50076": "multi-factor authentication is required: complete it in the browser",
    "50105": "the signed-in user is not assigned to the client app",
    "65001": "the client app is not consented in this tenant: an admin must consent at sign-in",
    "65002": "this client ID cannot request explicit Graph scopes: use the default --client-id",
    "700016": "the client app does not exist in this tenant or cloud: check --client-id and --cloud",
    "7000215": "the client secret is wrong or not yet active",
    "50020": "the signed-in user has no access to this tenant (no delegated admin (GDAP) relationship or guest "
             "account): add one, or sign in to this tenant directly",
}
# The same codes mean something else when the operator's automation app signs in.
_APP_IDENTITY_HINTS = {
    "700016": "the automation app has no service principal in this tenant: a tenant admin must consent to it "
              "there (or check --auth-client-id and --cloud)",
    "7000215": "the automation app's secret is wrong or expired: check KODO_AUTH_CLIENT_SECRET",
}


def _aadsts(message: str) -> str | None:
    match = re.search(r"AADSTS(\d+)", message)
    return match.group(1) if match else None


_UNREACHABLE = ("Failed to establish a new connection", "Max retries exceeded", "Name or service not known",
                "Connection refused", "ProxyError", "Temporary failure in name resolution")
# The request went out and the answer broke off (or never came): MSAL-based credentials wrap this in
# ClientAuthenticationError, ClientAssertionCredential raises azure-core's own error; the text tells.
_BROKEN_OFF = ("Connection broken", "Connection aborted", "RemoteDisconnected", "IncompleteRead", "Read timed out",
               "Connection reset")
# ClientAssertionCredential's AAD client quotes Entra's description: "Microsoft Entra ID error '(code) ...'".
_ENTRA_QUOTE = re.compile(r"^Microsoft Entra ID error '(.*?)'?$")


# Conditional Access refusals: a policy blocked token issuance (53003), or wants a compliant (53000) or
# domain-joined (53001) device, or a tenant security policy blocked the request (530032). A policy on
# "Authentication flows" can target the device-code flow alone, and Microsoft "recommends blocking
# device code flow wherever possible"; the authorization-code flow in a browser (--auth browser) is the
# documented way out (Azure CLI docs: "use authorization code flow or service principal to sign in").
# https://learn.microsoft.com/en-us/entra/identity/conditional-access/concept-authentication-flows
# https://learn.microsoft.com/en-us/entra/identity-platform/reference-error-codes (AADSTS53003)
CONDITIONAL_ACCESS_CODES = frozenset({"53000", "53001", "53003", "530032"})


def _conditional_access_hint(method: str) -> str:
    if method == "device-code":
        return ("the tenant's policy may block the device-code flow: run again with --auth browser, "
                "or ask the tenant admin to allow this sign-in")
    if method == "bulk-device-code":  # bulk has no browser sign-in
        return ("the tenant's policy may block the device-code flow: run bulk with your automation app "
                "(--auth client-secret|certificate), onboard this tenant alone with --auth browser, "
                "or ask the tenant admin to allow this sign-in")
    if method == "browser":
        return ("ask the tenant admin which policy blocked it (Entra sign-in logs, Conditional Access tab), "
                "or use your automation app with --auth client-secret|certificate")
    return ("a Conditional Access policy for workload identities blocks the automation app: ask the tenant admin "
            "to exclude it, or sign in as an administrator with --auth browser")


def translate_auth_error(exc: Exception, *, host: str, what: str = "sign-in", tenant: str | None = None,
                         method: str = "device-code") -> KodoError:
    """ClientAuthenticationError / transport errors -> a one-line error with a hint. `method` (an --auth
    value) picks the alternative sign-in a Conditional Access refusal points to."""
    message = getattr(exc, "message", None) or str(exc)
    first_line = message.strip().splitlines()[0] if message.strip() else type(exc).__name__
    first_line = _ENTRA_QUOTE.sub(r"\1", first_line)
    # azure-identity wraps transport failures in ClientAuthenticationError too; the text tells.
    if "CERTIFICATE_VERIFY_FAILED" in message or "SSLError" in message:
        return NetworkError(f"TLS certificate of {host} is not trusted", detail=clip(first_line),
                            hint="behind a TLS-inspecting proxy pass --ca-bundle PATH (or set REQUESTS_CA_BUNDLE)")
    if isinstance(exc, ServiceRequestError) or any(m in message for m in _UNREACHABLE):
        return NetworkError(f"cannot reach {host}", detail=clip(first_line),
                            hint="check the network, DNS, HTTPS_PROXY/NO_PROXY, or --authority-host")
    if isinstance(exc, (ServiceResponseError, IncompleteReadError)) or any(m in message for m in _BROKEN_OFF):
        return NetworkError(f"the connection to {host} broke off", detail=clip(first_line),
                            hint="check the network and HTTPS_PROXY/NO_PROXY, then run again (a re-run picks up "
                                 "where this one stopped)")
    if "Unable to get authority configuration" in message or _aadsts(message) == "90002":
        # MSAL reports an unknown tenant (AADSTS90002 on the discovery document) this way; a credential
        # without discovery (certificate sign-in) gets AADSTS90002 from the token endpoint.
        return SignInError(f"tenant {tenant or ''} not found at {host}".replace("  ", " "),
                           hint="check the tenant ID or domain, and --cloud for national-cloud tenants")
    code = _aadsts(message)
    if code in CONDITIONAL_ACCESS_CODES:
        return SignInError(f"{what} blocked by Conditional Access (AADSTS{code})", detail=clip(first_line),
                           hint=_conditional_access_hint(method))
    lowered = message.lower()
    if code in _APP_IDENTITY_HINTS and method in ("client-secret", "certificate"):
        hint = _APP_IDENTITY_HINTS[code]
    elif code in _AADSTS_HINTS:
        hint = _AADSTS_HINTS[code]
    elif "declined" in lowered or "access_denied" in lowered:
        hint = _AADSTS_HINTS["70000"]
    elif "expired" in lowered or "timed out" in lowered:
        hint = (_AADSTS_HINTS["7000218"] if method in ("device-code", "bulk-device-code")
                else "the sign-in was not completed in the browser in time: run again")
    else:
        hint = "run again; if it persists, check --tenant, --cloud and --client-id"
    summary = f"{what} failed" + (f" with AADSTS{code}" if code else "")
    return SignInError(summary, detail=clip(first_line), hint=hint)


