"""What the data-access probes read and report (apply/probe.py runs them)."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..cloud import Cloud
from ..graph.data_reads import DataReader

OK, BLOCKED, MISSING, NOT_PROBED, ERROR = "ok", "blocked", "missing", "not_probed", "error"
GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000"
AAD_GRAPH_APP_ID = "00000002-0000-0000-c000-000000000000"
EXCHANGE_APP_ID = "00000002-0000-0ff1-ce00-000000000000"
# Reading users: https://learn.microsoft.com/en-us/graph/api/user-list (and user-get, usersettings-list-exchange)
READ_USERS = ("User.Read.All", "User.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All")


@dataclass(frozen=True)
class ProbeResult:
    """One read's outcome. `name` is stable for scripts; `action` is what the tenant's admin does about it."""

    name: str
    api: str
    state: str
    detail: str
    action: str = ""

    def to_dict(self) -> dict[str, str]:
        return {"name": self.name, "api": self.api, "state": self.state, "detail": self.detail,
                "action": self.action}


@dataclass(frozen=True)
class Probe:
    """A read that proves one kind of access; it runs when the manifest grants one of `permissions`. Its
    requests may need more: one of `also_needs` too (e.g. the mailbox ID comes from the user's settings)."""

    name: str
    resource_app_id: str
    permissions: tuple[str, ...]
    what: str
    needs_mailbox: bool = False
    also_needs: tuple[str, ...] = ()


# Least-privileged permissions per read, from each API page's "Permissions" table.
PROBES = (
    Probe("directory", GRAPH_APP_ID, READ_USERS, "list users"),
    # https://learn.microsoft.com/en-us/graph/api/mailfolder-get
    Probe("mail", GRAPH_APP_ID, ("Mail.ReadBasic.All", "Mail.Read", "Mail.ReadWrite"),
          "read the inbox folder of", needs_mailbox=True),
    # https://learn.microsoft.com/en-us/graph/api/usersettings-list-exchange (the mailbox ID, User.Read.All),
    # https://learn.microsoft.com/en-us/graph/api/mailbox-list-folders (MailboxFolder.Read.All)
    Probe("mailbox_export", GRAPH_APP_ID, ("MailboxFolder.Read.All", "MailboxFolder.ReadWrite.All"),
          "list the mailbox folders (export API) of", needs_mailbox=True, also_needs=READ_USERS),
    # https://learn.microsoft.com/en-us/graph/api/drive-get
    Probe("onedrive", GRAPH_APP_ID, ("Files.Read.All", "Files.ReadWrite.All"), "read the OneDrive of",
          needs_mailbox=True),
    # https://learn.microsoft.com/en-us/graph/api/site-get
    Probe("sharepoint", GRAPH_APP_ID, ("Sites.Read.All", "Sites.ReadWrite.All", "Sites.Manage.All",
                                       "Sites.FullControl.All"), "read the root SharePoint site"),
    Probe("ews", EXCHANGE_APP_ID, ("full_access_as_app",), "read the inbox over EWS of", needs_mailbox=True),
    Probe("azure_ad_graph", AAD_GRAPH_APP_ID, (), "(retired API)"),
)


@dataclass(frozen=True)
class MailboxUser:
    """The user whose data the mailbox, OneDrive and EWS reads touch: Graph addresses it by ID, EWS by its
    primary SMTP address (which need not be the UPN)."""

    id: str
    upn: str
    mail: str


@dataclass
class ProbeContext:
    """What every read of one tenant shares."""

    cloud: Cloud
    client_id: str
    reader: DataReader
    tokens: dict[str, tuple[str, frozenset[str]]]  # resource app ID -> (token, roles)
    mailbox: MailboxUser | None = None
    named: str | None = None  # --probe-mailbox: the UPN the directory read looks up instead of listing users
    # Why there is no mailbox to read (None: none was looked for yet).
    no_mailbox: str | None = None
    token_errors: dict[str, str] = field(default_factory=dict)  # resource app ID -> why no token
