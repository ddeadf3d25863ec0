"""Sign-in through real MSAL/azure-identity: device code, refresh at another tenant, client credentials."""

from __future__ import annotations

import threading
import time

import httpx
import jwt
import pytest
from azure.core.exceptions import ClientAuthenticationError
from azure.identity import DeviceCodeCredential
from conftest import (
    ADMIN_SCOPES,
    CONTOSO,
    FABRIKAM,
    GRAPH_CLI_TOOLS,
    PARTNER,
    app_only,
    claims,
    graph_client,
    run,
    sign_in,
    token_of,
)
from msgraph.generated.applications.item.add_password.add_password_post_request_body import (
    AddPasswordPostRequestBody,
)
from msgraph.generated.models.application import Application
from msgraph.generated.models.password_credential import PasswordCredential
from msgraph.generated.models.service_principal import ServicePrincipal

from kodo_provision.simulator import Faults


def test_device_code_sign_in_auto_approved_as_tenant_sign_in_user(sim):
    cred = sign_in(sim)
    token = token_of(cred)  # served from the CAE cache: no second device-code prompt
    c = claims(token)
    assert c["upn"] == "admin@contoso.onmicrosoft.com" and c["tid"] == sim.tenant(CONTOSO).id
    assert c["aud"] == "https://graph.microsoft.com" and c["appid"] == GRAPH_CLI_TOOLS
    assert set(c["scp"].split()) == {"Application.ReadWrite.All", "AppRoleAssignment.ReadWrite.All",
                                     "DelegatedPermissionGrant.ReadWrite.All", "User.Read"}
    assert c["wids"] == ["62e90394-69f5-4237-9190-012177145e10"]
    assert len([r for r in sim.request_log if r.path.endswith("/devicecode")]) == 1


def test_token_signature_verifies_against_jwks(sim, raw):
    token = token_of(sign_in(sim))
    tid = sim.tenant(CONTOSO).id
    config = raw("GET", f"/{CONTOSO}/v2.0/.well-known/openid-configuration").json()
    assert config["issuer"] == f"{sim.url}/{tid}/v2.0"
    keys = raw("GET", config["jwks_uri"].replace(sim.url, "")).json()
    jwk = jwt.PyJWKSet.from_dict(keys)[jwt.get_unverified_header(token)["kid"]]
    verified = jwt.decode(token, jwk.key, algorithms=["RS256"], audience="https://graph.microsoft.com")
    assert verified["iss"] == f"https://sts.windows.net/{tid}/"


def test_authentication_record_and_id_token(sim):
    cred = DeviceCodeCredential(client_id=GRAPH_CLI_TOOLS, tenant_id=CONTOSO, authority=sim.url,
                                disable_instance_discovery=True, connection_verify=sim.ca_bundle_path,
                                prompt_callback=lambda *a: None)
    record = cred.authenticate(scopes=ADMIN_SCOPES, enable_cae=True)
    assert record.username == "admin@contoso.onmicrosoft.com"
    assert record.tenant_id == sim.tenant(CONTOSO).id and record.client_id == GRAPH_CLI_TOOLS
    assert record.home_account_id == f"0a0a0a0a-0000-4000-8000-000000000001.{sim.tenant(CONTOSO).id}"


def test_manual_approval_through_the_api(sim):
    sim.set_sign_in(tenant=CONTOSO, manual=True)
    prompts: list[str] = []
    cred = DeviceCodeCredential(client_id=GRAPH_CLI_TOOLS, tenant_id=CONTOSO, authority=sim.url,
                                disable_instance_discovery=True, connection_verify=sim.ca_bundle_path,
                                prompt_callback=lambda uri, code, exp: prompts.append(code))
    result: dict = {}
    t = threading.Thread(target=lambda: result.update(r=cred.authenticate(scopes=ADMIN_SCOPES, enable_cae=True)))
    t.start()
    deadline = time.time() + 10
    while time.time() < deadline and not any(r.path.endswith("/token") for r in sim.request_log):
        time.sleep(0.01)
    assert sim.pending_device_codes()[0]["status"] == "pending"
    sim.approve_device_code(prompts[0], "pra@contoso.onmicrosoft.com")
    t.join(10)
    assert result["r"].username == "pra@contoso.onmicrosoft.com"
    polls = [r for r in sim.request_log if r.path.endswith("/token")]
    assert polls[0].status == 400  # authorization_pending before the approval


def test_declined_and_expired_device_codes(sim):
    sim.set_sign_in(tenant=CONTOSO, decline=True)
    with pytest.raises(ClientAuthenticationError, match="authorization_declined"):
        sign_in(sim)
    sim.set_sign_in(tenant=CONTOSO, expire=True)
    with pytest.raises(ClientAuthenticationError, match="expired_token"):
        sign_in(sim)


def test_pending_poll_answers_like_entra(sim, raw):
    sim.set_sign_in(tenant=CONTOSO, manual=True)
    dc = raw("POST", f"/{CONTOSO}/oauth2/v2.0/devicecode",
             data={"client_id": GRAPH_CLI_TOOLS, "scope": "https://graph.microsoft.com/.default offline_access"}).json()
    assert {"device_code", "user_code", "verification_uri", "expires_in", "interval", "message"} <= set(dc)
    r = raw("POST", f"/{CONTOSO}/oauth2/v2.0/token", data={
        "grant_type": "urn:ietf:params:oauth:grant-type:device_code", "client_id": GRAPH_CLI_TOOLS,
        "device_code": dc["device_code"]})
    body = r.json()
    assert r.status_code == 400 and body["error"] == "authorization_pending"
    assert body["error_description"].startswith("AADSTS70016:") and body["error_codes"] == [70016]
    assert {"timestamp", "trace_id", "correlation_id"} <= set(body)


def test_unknown_tenant_is_aadsts90002(sim, raw):
    r = raw("GET", "/nosuch.onmicrosoft.com/v2.0/.well-known/openid-configuration")
    assert r.status_code == 400 and r.json()["error"] == "invalid_tenant"
    assert r.json()["error_description"].startswith("AADSTS90002: Tenant 'nosuch.onmicrosoft.com' not found.")
    for name in ("organizations", "common", sim.tenant(CONTOSO).id, "contoso.com"):
        assert raw("GET", f"/{name}/v2.0/.well-known/openid-configuration").status_code == 200


def test_partner_admin_refresh_reaches_a_customer_only_where_the_client_is_consented(sim):
    """A refresh token redeemed at a customer where the partner admin holds GDAP Global Administrator:
    Entra cannot consent on a silent request, so 65001 (suberror consent_required) until the client
    is consented there (Partner-Center-DotNet-Samples#49; graph-facts §12); then the admin's roles."""
    cred = sign_in(sim, PARTNER, additionally_allowed_tenants=["*"], disable_automatic_authentication=True)
    for customer in (CONTOSO, FABRIKAM):
        with pytest.raises(ClientAuthenticationError):
            token_of(cred, tenant_id=customer)
        refused = [r for r in sim.request_log if r.tenant_id == sim.tenant(customer).id and r.status == 400]
        assert [r.error_code for r in refused] == ["invalid_grant (AADSTS65001)"]
    assert sim.tenant(CONTOSO).dump()["oauth2PermissionGrants"] == [], "a silent request records no consent"
    sim.grant_consent(CONTOSO, GRAPH_CLI_TOOLS, [s.rsplit("/", 1)[1] for s in ADMIN_SCOPES])
    # MSAL answers the very same failed request from its own cache for 60 s (msal/throttled_http_client.py:
    # every HTTP 400 of the token endpoint), so ask for a different scope set now that consent exists.
    asked = ADMIN_SCOPES[:-1]
    c = claims(token_of(cred, *asked, tenant_id=CONTOSO))
    assert c["tid"] == sim.tenant(CONTOSO).id and c["upn"] == "partner.admin@msp-partner.onmicrosoft.com"
    assert c["wids"] == ["62e90394-69f5-4237-9190-012177145e10"]
    # Every consented scope, not only the ones asked for (Entra's additive scopes, simulator/consent.py).
    assert set(c["scp"].split()) == {s.rsplit("/", 1)[1] for s in ADMIN_SCOPES} > {s.rsplit("/", 1)[1] for s in asked}
    assert len([r for r in sim.request_log if r.path.endswith("/devicecode")]) == 1


def test_a_consent_gives_exactly_its_scopes(sim, raw):
    """Consented scopes only: a silent request for one more scope is refused, an interactive one by an
    admin consents it (the grant grows; one grant per client and resource)."""
    cred = sign_in(sim, CONTOSO, disable_automatic_authentication=True)
    more = "https://graph.microsoft.com/Directory.Read.All"
    with pytest.raises(ClientAuthenticationError, match="AADSTS65001"):
        token_of(cred, more)
    grants = sim.tenant(CONTOSO).dump()["oauth2PermissionGrants"]
    assert len(grants) == 1 and "Directory.Read.All" not in grants[0]["scope"].split()
    sign_in(sim, CONTOSO, scopes=[more])  # the admin approves on the page: consent recorded
    (grant,) = sim.tenant(CONTOSO).dump()["oauth2PermissionGrants"]
    assert "Directory.Read.All" in grant["scope"].split() and "Application.ReadWrite.All" in grant["scope"].split()


def test_first_party_client_is_preauthorized_and_refuses_explicit_scopes(sim):
    azure_cli = "04b07795-8ddb-461a-bbee-02f9e1bf7b46"
    cred = DeviceCodeCredential(client_id=azure_cli, tenant_id=CONTOSO, authority=sim.url,
                                disable_instance_discovery=True, connection_verify=sim.ca_bundle_path,
                                prompt_callback=lambda *a: None, timeout=20)
    with pytest.raises(ClientAuthenticationError, match="AADSTS65002"):
        cred.authenticate(scopes=["https://graph.microsoft.com/Application.ReadWrite.All"])
    record = cred.authenticate(scopes=["https://graph.microsoft.com/.default"])
    assert record.username == "admin@contoso.onmicrosoft.com"
    scp = claims(cred.get_token("https://graph.microsoft.com/.default").token)["scp"].split()
    assert "Application.ReadWrite.All" in scp and "DelegatedPermissionGrant.ReadWrite.All" not in scp
    assert sim.tenant(CONTOSO).dump()["oauth2PermissionGrants"] == [], "preauthorization records no consent"


def test_unknown_client_and_a_client_without_public_flows_are_refused(sim, raw):
    unknown = raw("POST", f"/{CONTOSO}/oauth2/v2.0/devicecode",
                  data={"client_id": "11111111-2222-3333-4444-555555555555", "scope": "User.Read"})
    assert unknown.status_code == 400 and unknown.json()["error_codes"] == [700016]
    app = run(graph_client(sim, sign_in(sim)).applications.post(
        Application(display_name="partner sign-in", sign_in_audience="AzureADMultipleOrgs")))
    sim.settle_replication()

    def device_code_sign_in(tenant: str) -> None:
        DeviceCodeCredential(client_id=app.app_id, tenant_id=tenant, authority=sim.url, disable_instance_discovery=True,
                             connection_verify=sim.ca_bundle_path, prompt_callback=lambda *a: None,
                             timeout=20).authenticate(scopes=["https://graph.microsoft.com/User.Read"])

    with pytest.raises(ClientAuthenticationError, match="AADSTS7000218"):
        device_code_sign_in(CONTOSO)  # "Allow public client flows" is off
    run(graph_client(sim, sign_in(sim)).applications.by_application_id(app.id).patch(
        Application(is_fallback_public_client=True)))
    sim.settle_replication()
    device_code_sign_in(FABRIKAM)  # multi-tenant: its admin consents at sign-in
    fabrikam = sim.tenant(FABRIKAM).dump()
    sp = next(s for s in fabrikam["servicePrincipals"] if s["appId"] == app.app_id)
    assert [g["scope"] for g in fabrikam["oauth2PermissionGrants"] if g["clientId"] == sp["id"]] == ["User.Read"]


def test_user_without_access_cannot_refresh_into_other_tenant(sim):
    cred = sign_in(sim, CONTOSO, additionally_allowed_tenants=["*"])
    sim.set_sign_in(tenant=FABRIKAM, decline=True)
    # The silent refresh fails (AADSTS50020), so the credential falls back to a new device code,
    # which the (simulated) user declines.
    with pytest.raises(ClientAuthenticationError, match="authorization_declined"):
        token_of(cred, tenant_id=FABRIKAM)
    fab = sim.tenant(FABRIKAM).id
    at_fabrikam = [(r.path.rsplit("/", 1)[1], r.status) for r in sim.request_log
                   if r.tenant_id == fab and r.method == "POST"]
    assert at_fabrikam[0] == ("token", 400) and ("devicecode", 200) in at_fabrikam
    refused = next(r for r in sim.request_log if r.tenant_id == fab and r.status == 400)
    assert refused.error_code == "invalid_grant (AADSTS50020)"


def test_organizations_authority_signs_in_to_the_users_home_tenant(sim):
    cred = DeviceCodeCredential(client_id=GRAPH_CLI_TOOLS, tenant_id="organizations", authority=sim.url,
                                disable_instance_discovery=True, connection_verify=sim.ca_bundle_path,
                                prompt_callback=lambda *a: None)
    sim.set_sign_in(user="admin@fabrikam.onmicrosoft.com")
    record = cred.authenticate(scopes=ADMIN_SCOPES, enable_cae=True)
    assert record.tenant_id == sim.tenant(FABRIKAM).id and record.username == "admin@fabrikam.onmicrosoft.com"


def _new_app_with_secret(sim, **secret_kwargs):
    c = graph_client(sim, sign_in(sim))

    async def go():
        app = await c.applications.post(Application(display_name="cc"))
        pw = await c.applications.by_application_id(app.id).add_password.post(
            AddPasswordPostRequestBody(password_credential=PasswordCredential(display_name="s", **secret_kwargs)))
        return app, pw

    return c, *run(go())


def test_client_credentials_errors(sim):
    c, app, pw = _new_app_with_secret(sim)
    # No service principal yet in the tenant: AADSTS700016.
    with pytest.raises(ClientAuthenticationError, match="AADSTS700016"):
        app_only(sim, CONTOSO, app.app_id, pw.secret_text).get_token("https://graph.microsoft.com/.default")
    run(c.service_principals.post(ServicePrincipal(app_id=app.app_id)))
    with pytest.raises(ClientAuthenticationError, match="AADSTS7000215"):
        app_only(sim, CONTOSO, app.app_id, "wrong").get_token("https://graph.microsoft.com/.default")
    token = app_only(sim, CONTOSO, app.app_id, pw.secret_text).get_token("https://graph.microsoft.com/.default")
    assert "roles" not in claims(token.token)  # nothing granted yet
    # Exchange Online is not in fabrikam; the app is not there either.
    with pytest.raises(ClientAuthenticationError, match="AADSTS700016"):
        app_only(sim, FABRIKAM, app.app_id, pw.secret_text).get_token("https://outlook.office365.com/.default")


def test_new_secret_is_refused_until_it_has_aged(sim):
    sim.set_faults(Faults(new_secret_delay_ms=600))
    c, app, pw = _new_app_with_secret(sim)
    run(c.service_principals.post(ServicePrincipal(app_id=app.app_id)))
    with pytest.raises(ClientAuthenticationError, match="AADSTS7000215"):
        app_only(sim, CONTOSO, app.app_id, pw.secret_text).get_token("https://graph.microsoft.com/.default")
    time.sleep(0.7)
    assert app_only(sim, CONTOSO, app.app_id, pw.secret_text).get_token("https://graph.microsoft.com/.default")


def test_client_credentials_needs_a_dot_default_scope(sim, raw):
    sim.set_sign_in(tenant=FABRIKAM)
    c, app, pw = _new_app_with_secret(sim)
    r = raw("POST", f"/{CONTOSO}/oauth2/v2.0/token", data={
        "grant_type": "client_credentials", "client_id": app.app_id, "client_secret": pw.secret_text,
        "scope": "https://graph.microsoft.com/User.Read"})
    assert r.status_code == 400 and r.json()["error_codes"] == [1002012]


def test_claims_parameter_is_accepted(sim, raw):
    c, app, pw = _new_app_with_secret(sim)
    run(c.service_principals.post(ServicePrincipal(app_id=app.app_id)))
    r = raw("POST", f"/{CONTOSO}/oauth2/v2.0/token", data={
        "grant_type": "client_credentials", "client_id": app.app_id, "client_secret": pw.secret_text,
        "scope": "https://graph.microsoft.com/.default", "claims": '{"access_token":{"xms_cc":{"values":["CP1"]}}}'})
    assert r.status_code == 200 and r.json()["token_type"] == "Bearer"
    assert isinstance(httpx.Response(200, json=r.json()).json()["expires_in"], int)


def test_slow_down_then_success(sim, raw):
    sim.core.scenario.sign_in.slow_down_polls = 1
    try:
        dc = raw("POST", f"/{CONTOSO}/oauth2/v2.0/devicecode",
                 data={"client_id": GRAPH_CLI_TOOLS, "scope": " ".join(ADMIN_SCOPES)}).json()
        poll = {"grant_type": "urn:ietf:params:oauth:grant-type:device_code", "client_id": GRAPH_CLI_TOOLS,
                "device_code": dc["device_code"]}
        first = raw("POST", f"/{CONTOSO}/oauth2/v2.0/token", data=poll)
        assert first.status_code == 400 and first.json()["error"] == "slow_down"
        second = raw("POST", f"/{CONTOSO}/oauth2/v2.0/token", data=poll)
        assert second.status_code == 200 and second.json()["expires_in"] > 0
        reused = raw("POST", f"/{CONTOSO}/oauth2/v2.0/token", data=poll)  # a device code is redeemed once
        assert reused.json()["error"] == "bad_verification_code"
    finally:
        sim.core.scenario.sign_in.slow_down_polls = 0


def _self_signed_pem() -> tuple[bytes, bytes]:
    import datetime as dt

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kodo-test")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=1))
            .not_valid_after(now + dt.timedelta(days=30)).sign(key, hashes.SHA256()))
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return key_pem + cert.public_bytes(serialization.Encoding.PEM), cert.public_bytes(serialization.Encoding.DER)


def _app_with_certificate(sim, der: bytes):
    """An app whose keyCredentials hold the certificate `der`, its SP, and full_access_as_app granted."""
    from msgraph.generated.models.app_role_assignment import AppRoleAssignment
    from msgraph.generated.models.key_credential import KeyCredential

    c = graph_client(sim, sign_in(sim))

    async def go():
        app = await c.applications.post(Application(display_name="cert app", key_credentials=[
            KeyCredential(type="AsymmetricX509Cert", usage="Verify", key=der)]))
        sp = await c.service_principals.post(ServicePrincipal(app_id=app.app_id))
        exo = await c.service_principals_with_app_id("00000002-0000-0ff1-ce00-000000000000").get()
        await c.service_principals.by_service_principal_id(exo.id).app_role_assigned_to.post(AppRoleAssignment(
            principal_id=sp.id, resource_id=exo.id, app_role_id="dc890d15-9560-4a4c-9b7f-a736ec74ec40"))
        return app

    return run(go())


def test_certificate_credential_client_assertion(sim):
    import base64

    from azure.identity import CertificateCredential

    pem, der = _self_signed_pem()
    app = _app_with_certificate(sim, der)
    stored = sim.tenant(CONTOSO).dump()["applications"][0]["keyCredentials"][0]
    assert stored["key"] is None and base64.b64decode(stored["customKeyIdentifier"])
    cred = CertificateCredential(CONTOSO, app.app_id, certificate_data=pem, authority=sim.url,
                                 disable_instance_discovery=True, connection_verify=sim.ca_bundle_path)
    token = cred.get_token("https://outlook.office365.com/.default")
    assert claims(token.token)["roles"] == ["full_access_as_app"]
    other_pem, _ = _self_signed_pem()
    with pytest.raises(ClientAuthenticationError, match="AADSTS700027"):
        CertificateCredential(CONTOSO, app.app_id, certificate_data=other_pem, authority=sim.url,
                              disable_instance_discovery=True, connection_verify=sim.ca_bundle_path,
                              ).get_token("https://outlook.office365.com/.default")


def test_client_assertion_needs_the_documented_claims_and_this_tenants_token_endpoint(sim, raw):
    """certificate-credentials "Assertion format": PS256 + x5t#S256, aud = the tenant's token endpoint, exp,
    iss = sub = client ID, jti. No nbf (MSAL sends none). A missing claim or another tenant's endpoint is
    refused."""
    import base64
    import hashlib
    import uuid

    from cryptography.hazmat.primitives import serialization

    pem, der = _self_signed_pem()
    app = _app_with_certificate(sim, der)
    key = serialization.load_pem_private_key(pem, password=None)
    thumb = base64.urlsafe_b64encode(hashlib.sha256(der).digest()).decode().rstrip("=")
    endpoint = f"{sim.url}/{CONTOSO}/oauth2/v2.0/token"

    def ask(**changes):
        claims_ = {"aud": endpoint, "iss": app.app_id, "sub": app.app_id, "jti": str(uuid.uuid4()),
                   "exp": int(time.time()) + 600, **changes}
        assertion = jwt.encode({k: v for k, v in claims_.items() if v is not None}, key, algorithm="PS256",
                               headers={"x5t#S256": thumb})
        return raw("POST", f"/{CONTOSO}/oauth2/v2.0/token", data={
            "grant_type": "client_credentials", "client_id": app.app_id, "scope": "https://outlook.office365.com/.default",
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": assertion})

    assert ask().status_code == 200
    for missing in ("jti", "exp", "aud"):
        answer = ask(**{missing: None})
        assert answer.status_code == 401 and "AADSTS50027" in answer.json()["error_description"], missing
    answer = ask(aud=f"{sim.url}/{FABRIKAM}/oauth2/v2.0/token")
    assert answer.status_code == 401 and "AADSTS700212" in answer.json()["error_description"]
    answer = ask(exp=int(time.time()) - 60)
    assert answer.status_code == 401 and "AADSTS700024" in answer.json()["error_description"]
