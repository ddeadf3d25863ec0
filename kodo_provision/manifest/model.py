"""The permission manifest's schema (what the YAML file may say)."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

GUID_PATTERN = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
Guid = Annotated[str, Field(pattern=GUID_PATTERN)]
# Entra's uniqueName: "unique identifier that can be assigned to an application and used as an
# alternate key"; kept to a conservative character set so it is safe in a key segment.
# https://learn.microsoft.com/en-us/graph/api/resources/application#properties
UniqueName = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,119}$")]
PermissionName = Annotated[str, Field(min_length=1, max_length=120, pattern=r"^\S+$")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AppSpec(_Strict):
    """The app registration KODO uses."""

    display_name: Annotated[str, Field(min_length=1, max_length=120)]
    unique_name: UniqueName
    sign_in_audience: Literal["AzureADMyOrg", "AzureADMultipleOrgs"] = "AzureADMyOrg"
    # "Allow public client flows" (isFallbackPublicClient): the app is itself a sign-in client
    # (device code, browser with a localhost redirect), e.g. an MSP's partner sign-in app.
    # https://learn.microsoft.com/en-us/entra/identity-platform/msal-client-application-configuration
    public_client: bool = False


class SecretSpec(_Strict):
    """The client secret handed to KODO."""

    display_name: Annotated[str, Field(min_length=1, max_length=80)] = "KODO backup"
    lifetime_days: Annotated[int, Field(ge=1, le=730)] = 180


class ResourceSpec(_Strict):
    """One resource API (by appId) and the permissions wanted on it, by name."""

    name: Annotated[str, Field(min_length=1)]
    app_id: Guid
    application: tuple[PermissionName, ...] = ()
    delegated: tuple[PermissionName, ...] = ()

    @field_validator("app_id")
    @classmethod
    def _lower(cls, value: str) -> str:
        return value.lower()

    @field_validator("application", "delegated")
    @classmethod
    def _no_duplicates(cls, names: tuple[str, ...]) -> tuple[str, ...]:
        seen: set[str] = set()
        for name in names:
            if name in seen:
                raise ValueError(f"{name!r} is listed twice")
            seen.add(name)
        return names

    @model_validator(mode="after")
    def _not_empty(self) -> ResourceSpec:
        if not self.application and not self.delegated:
            raise ValueError("a resource needs at least one application or delegated permission")
        return self


class Manifest(_Strict):
    """The whole manifest file."""

    schema_version: Literal[1]
    manifest_version: Annotated[str, Field(min_length=1, max_length=40)]
    # What the app is for (e.g. "backup"); `manifest lint` flags permissions broader than it needs
    # (kodo_provision/data/permission_hints.yaml lists the purposes it knows).
    purpose: Annotated[str, Field(min_length=1, max_length=40)] | None = None
    # Lint warning codes the manifest's owner has seen and accepts (e.g. KP101: KODO still asks for Azure AD
    # Graph): plan/onboard/bulk show them as one summary line; `manifest lint` lists them. Errors stay errors.
    acknowledge: tuple[Annotated[str, Field(pattern=r"^KP\d{3}$")], ...] = ()
    app: AppSpec
    secret: SecretSpec = SecretSpec()
    resources: tuple[ResourceSpec, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_resources(self) -> Manifest:
        seen: set[str] = set()
        for resource in self.resources:
            if resource.app_id in seen:
                raise ValueError(f"resource {resource.app_id} is listed twice; merge its permissions")
            seen.add(resource.app_id)
        return self


def is_guid(value: str) -> bool:
    """True for a GUID in its usual 8-4-4-4-12 form."""
    return re.match(GUID_PATTERN, value) is not None
