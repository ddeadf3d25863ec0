"""The simulated directories: tenants, users and the Graph objects they hold.

Objects are kept as the JSON bodies Graph returns, plus simulator-only metadata (`Obj.extra`)
such as secret hashes and the moment an object becomes visible (replication lag).

Replication model. Entra sends every write to a partition's primary replica and serves reads from
secondary replicas; Graph keeps a *logical session* with affinity to one secondary replica (a
"replica token"), and that replica pulls the session's writes back synchronously, so the session
reads its own writes - as long as its requests stay in the same datacenter
(https://learn.microsoft.com/en-us/entra/architecture/architecture, "Data consistency").
Microsoft's identity blog adds that delegated (app + user) access often sees consistency across
requests while app-only requests may land on different replicas
(https://devblogs.microsoft.com/identity/designing-for-eventual-consistency-for-microsoft-entra/).

The simulator keeps that small: each object remembers the logical session whose request wrote it
(`Obj.session`, `Obj.changed_by`); a request runs on behalf of at most one session (bound with
`join_session` for the duration of the request). A read or dependent write sees an object
before its lag has passed only from that same session; everyone else - other users, app-only
tokens, the token service issuing an app's own token - sees it after the lag. Which requests
belong to a session is decided by `FaultEngine.replica_session` (faults.py).
"""

from __future__ import annotations

import copy
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from . import clock
from .catalogue import first_party_resources, stable_id
from .scenario import Scenario, TenantSpec

# The logical session of the request being answered (None: replicated state only).
_SESSION: ContextVar[str | None] = ContextVar("kodo_sim_replica_session", default=None)


def current_session() -> str | None:
    """The logical session the current request belongs to, or None outside one."""
    return _SESSION.get()


def join_session(session: str | None) -> None:
    """Answer the current request on behalf of `session`: its own recent writes are visible, and
    objects created or changed from now on record it as their writer. Call it only inside a context
    the request owns (`contextvars.copy_context().run`), so the binding ends with the request."""
    _SESSION.set(session)


@dataclass
class Obj:
    """One directory object: its Graph body and simulator metadata."""

    data: dict[str, Any]
    visible_at: float = 0.0  # clock.monotonic() from which every reader sees it
    extra: dict[str, Any] = field(default_factory=dict)
    previous: dict[str, Any] | None = None  # what reads return until `changed_at` (replication of a change)
    changed_at: float = 0.0
    # The logical session whose request created the object: it sees it before `visible_at`.
    session: str | None = field(default_factory=current_session)
    changed_by: str | None = None  # the session of the last change still replicating

    def view(self, now: float | None = None) -> dict[str, Any]:
        """The body a read sees: the pre-change body while a change is still "replicating",
        except for the session that made the change (read-your-writes)."""
        if self.previous is not None and (clock.monotonic() if now is None else now) < self.changed_at:
            reader = _SESSION.get()
            if reader is None or reader != self.changed_by:
                return self.previous
        return self.data

    def will_change(self, lag_s: float) -> None:
        """Call before mutating `data`: other sessions keep seeing the old body for `lag_s` seconds."""
        if lag_s <= 0:
            return
        now = clock.monotonic()
        if self.previous is None or now >= self.changed_at:
            self.previous = copy.deepcopy(self.data)
        self.changed_at = now + lag_s
        self.changed_by = _SESSION.get()

    @property
    def id(self) -> str:
        """The object id."""
        return self.data["id"]

    def visible(self, now: float | None = None) -> bool:
        """False while the object is still "replicating" (fault replication_lag_ms), except to the
        session that created it."""
        if (clock.monotonic() if now is None else now) >= self.visible_at:
            return True
        reader = _SESSION.get()
        return reader is not None and reader == self.session


@dataclass(frozen=True)
class User:
    """A user as the token service and /me see it."""

    id: str
    upn: str
    display_name: str
    tenant_id: str
    role_ids: tuple[str, ...]
    partner_access: dict[str, tuple[str, ...]]  # customer tenant id -> role template ids
    mailbox: bool = True  # an Exchange Online mailbox
    mail: str | None = None  # primary SMTP address
    user_type: str = "Member"
    onedrive: bool = True

    def graph_body(self) -> dict[str, Any]:
        """The user resource: https://learn.microsoft.com/en-us/graph/api/resources/user"""
        return {
            "id": self.id,
            "userPrincipalName": self.upn,
            "displayName": self.display_name,
            "mail": self.mail,
            "userType": self.user_type,
            "givenName": None,
            "surname": None,
            "jobTitle": None,
            "businessPhones": [],
            "mobilePhone": None,
            "officeLocation": None,
            "preferredLanguage": "en-US",
        }


class Tenant:
    """One directory and everything in it."""

    def __init__(self, spec: TenantSpec) -> None:
        self.spec = spec
        self.id = spec.id
        self.domains = spec.all_domains
        self.display_name = spec.display_name or spec.domain.split(".")[0].title()
        self.users: dict[str, User] = {}
        self.applications: dict[str, Obj] = {}
        self.service_principals: dict[str, Obj] = {}
        self.assignments: dict[str, Obj] = {}
        self.grants: dict[str, Obj] = {}
        self.deleted: dict[str, Obj] = {}
        self.app_management_policies: dict[str, Obj] = {}  # app-specific ones (graph/policies.py)
        for u in spec.users:
            uid = (u.id or stable_id(spec.id, "user", u.upn)).lower()
            self.users[uid] = User(
                id=uid,
                upn=u.upn,
                display_name=u.display_name or u.upn.split("@")[0],
                tenant_id=self.id,
                role_ids=tuple(u.roles),
                partner_access={},  # resolved by Directory once all tenants exist
                mailbox=u.mailbox,
                mail=u.mail or (u.upn if u.mailbox else None),
                user_type=u.user_type,
                onedrive=u.onedrive,
            )
        missing = {m.lower() for m in spec.missing_resources}
        for app_id, res in first_party_resources().items():
            if res.partner_only and spec.partner_center is None:
                continue
            if app_id not in missing:
                sp_id = stable_id(self.id, "sp", app_id)
                self.service_principals[sp_id] = Obj(res.service_principal_body(sp_id))

    @property
    def default_domain(self) -> str:
        """The initial domain (xxx.onmicrosoft.com)."""
        return self.domains[0]

    @property
    def sign_in_user(self) -> User | None:
        """The user who approves auto-approved device codes (default: the first user)."""
        if self.spec.sign_in_user:
            return self.user_by_upn(self.spec.sign_in_user)
        return next(iter(self.users.values()), None)

    def user_by_upn(self, upn: str) -> User | None:
        """A member user by UPN (case-insensitive)."""
        upn = upn.lower()
        return next((u for u in self.users.values() if u.upn.lower() == upn), None)

    # --- lookups ------------------------------------------------------------------------------
    def app_by(self, key: str, value: str, *, include_hidden: bool = False) -> Obj | None:
        """An application by `id`, `appId` or `uniqueName`."""
        if key == "id":
            obj = self.applications.get(value)
            return obj if obj and (include_hidden or obj.visible()) else None
        now = clock.monotonic()
        for obj in self.applications.values():
            v = obj.data.get(key)
            if v is not None and v.lower() == value.lower() and (include_hidden or obj.visible(now)):
                return obj
        return None

    def sp_by(self, key: str, value: str, *, include_hidden: bool = False) -> Obj | None:
        """A service principal by `id` or `appId`."""
        if key == "id":
            obj = self.service_principals.get(value)
            return obj if obj and (include_hidden or obj.visible()) else None
        now = clock.monotonic()
        for obj in self.service_principals.values():
            if obj.data.get(key, "").lower() == value.lower() and (include_hidden or obj.visible(now)):
                return obj
        return None

    def sp_for_resource(self, resource: str) -> Obj | None:
        """The resource SP whose servicePrincipalNames (or appId) match a resource URI."""
        r = resource.lower().rstrip("/")
        for obj in self.service_principals.values():
            names = [n.lower().rstrip("/") for n in obj.data.get("servicePrincipalNames", [])]
            if r in names or r == obj.data.get("appId", "").lower():
                return obj if obj.visible() else None
        return None

    def dump(self) -> dict[str, Any]:
        """A deep copy of the tenant's state, for tests and the control endpoint."""

        def bodies(objs: dict[str, Obj]) -> list[dict[str, Any]]:
            return [copy.deepcopy(o.data) for o in objs.values()]

        return {
            "id": self.id,
            "displayName": self.display_name,
            "domains": list(self.domains),
            "users": [u.graph_body() | {"roles": list(u.role_ids)} for u in self.users.values()],
            "applications": bodies(self.applications),
            "servicePrincipals": bodies(self.service_principals),
            "appRoleAssignments": bodies(self.assignments),
            "oauth2PermissionGrants": bodies(self.grants),
            "deletedItems": bodies(self.deleted),
        }


class Directory:
    """All tenants of one simulator, with lookups by id and domain."""

    def __init__(self, scenario: Scenario) -> None:
        self.tenants: dict[str, Tenant] = {t.id: Tenant(t) for t in scenario.tenants}
        self._by_name: dict[str, Tenant] = {}
        for t in self.tenants.values():
            self._by_name[t.id] = t
            for d in t.domains:
                self._by_name[d.lower()] = t
        # Resolve partner access now that every tenant is known.
        for t, spec in ((t, t.spec) for t in self.tenants.values()):
            for u_spec in spec.users:
                if not u_spec.partner_access:
                    continue
                user = t.user_by_upn(u_spec.upn)
                assert user is not None
                access: dict[str, tuple[str, ...]] = {}
                for pa in u_spec.partner_access:
                    customer = self.resolve(pa.tenant)
                    if customer is None:
                        raise ValueError(f"partner_access of {u_spec.upn}: unknown tenant {pa.tenant!r}")
                    access[customer.id] = tuple(pa.roles)
                t.users[user.id] = User(**{**user.__dict__, "partner_access": access})

    def resolve(self, name: str) -> Tenant | None:
        """A tenant by GUID or any of its domains (case-insensitive)."""
        return self._by_name.get(name.lower())

    def user_by_upn(self, upn: str) -> User | None:
        """A user of any tenant by UPN."""
        for t in self.tenants.values():
            u = t.user_by_upn(upn)
            if u:
                return u
        return None

    def app_anywhere(self, app_id: str) -> tuple[Tenant, Obj] | None:
        """The application object (in its home tenant) with this appId, even if still replicating."""
        for t in self.tenants.values():
            obj = t.app_by("appId", app_id, include_hidden=True)
            if obj:
                return t, obj
        return None

    def roles_in(self, user: User, tenant: Tenant) -> tuple[str, ...] | None:
        """The user's directory roles in `tenant` (member or partner), or None without access."""
        if user.tenant_id == tenant.id:
            return user.role_ids
        return user.partner_access.get(tenant.id)
