"""The async wrapper around azure-identity's sync credentials (auth/user.AsyncCredential)."""

from __future__ import annotations


def test_async_credential_reuses_a_token_until_shortly_before_it_expires():
    """kiota asks for a token before every Graph request: the wrapper answers from the token it has while more
    than 5 minutes are left, asks the credential again after, and always for a claims challenge (CAE)."""
    import asyncio
    import time

    from azure.core.credentials import AccessToken

    from kodo_provision.auth.user import AsyncCredential

    class Counting:
        def __init__(self, lifetime_s: int) -> None:
            self.calls, self.lifetime_s = 0, lifetime_s

        def get_token(self, *scopes: str, **kwargs: object) -> AccessToken:
            self.calls += 1
            return AccessToken(f"t{self.calls}", int(time.time()) + self.lifetime_s)

    async def ask(credential: AsyncCredential, n: int, **kwargs: object) -> list[str]:
        return [(await credential.get_token("https://graph.microsoft.com/.default", **kwargs)).token for _ in range(n)]

    long_lived = Counting(3600)
    wrapper = AsyncCredential(long_lived)
    assert asyncio.run(ask(wrapper, 5)) == ["t1"] * 5 and long_lived.calls == 1
    assert asyncio.run(ask(wrapper, 2, tenant_id="other")) == ["t2", "t2"]  # another tenant: its own token
    assert asyncio.run(ask(wrapper, 2, claims='{"access_token":{}}')) == ["t3", "t4"]  # never cached
    short_lived = Counting(200)  # less than the 5-minute margin: asked every time
    assert asyncio.run(ask(AsyncCredential(short_lived), 3)) == ["t1", "t2", "t3"]
