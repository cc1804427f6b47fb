"""Bearer tokens over HTTP while the app remembers the accounts of the tokens it has seen: a revoked
token, a disabled account or a new role is seen by the very next request; a token never answers as
another; a token's use is recorded at most once a minute."""

from __future__ import annotations

from sqlalchemy import select, update

from tests.e2e.conftest import World
from zhisuan import accounts
from zhisuan.accounts.services import user_principal
from zhisuan.core.clock import ManualClock
from zhisuan.store.models.core import ApiTokenRow


def _me(world: World, who: str) -> tuple[int, dict[str, object]]:
    got = world.client.get("/api/v1/me", headers=world.auth(who))
    return got.status_code, got.json()


def test_each_token_answers_as_its_own_account_however_the_requests_interleave(world: World) -> None:
    for _ in range(3):
        for who in ("alice", "bob", "olga", "root"):
            status, body = _me(world, who)
            assert status == 200 and body["username"] == who


def test_a_revoked_token_is_refused_on_its_very_next_request(world: World) -> None:
    assert _me(world, "bob")[0] == 200
    with world.platform.uow() as uow:
        bob = user_principal(uow, "bob")
        (token,) = accounts.list_tokens(uow, bob)
        accounts.revoke_token(uow, bob, token.id, world.platform.clock.now())
        uow.commit()
    status, body = _me(world, "bob")
    assert status == 401 and "revoked" in str(body)
    assert _me(world, "alice")[0] == 200  # other tokens are untouched


def test_a_token_revoked_by_hand_in_the_database_is_refused_at_once(world: World) -> None:
    assert _me(world, "olga")[0] == 200
    with world.platform.uow() as uow:
        uow.session.execute(update(ApiTokenRow).values(revoked=True))
        uow.commit()
    assert _me(world, "olga")[0] == 401


def test_a_disabled_account_and_a_new_role_apply_to_the_next_request(world: World) -> None:
    assert _me(world, "alice")[1]["role"] == "org_admin"
    changed = world.client.put("/api/v1/users/alice/role", json={"role": "user"}, headers=world.auth("root"))
    assert changed.status_code == 200
    assert _me(world, "alice")[1]["role"] == "user"
    # and with it what alice may do: creating a user in her organization is an org admin's
    made = world.client.post(
        "/api/v1/users",
        json={"username": "carol", "password": "password-1", "role": "user", "org": str(world.org_a)},
        headers=world.auth("alice"),
    )
    assert made.status_code in {403, 404}
    assert world.client.post("/api/v1/users/bob/disable", headers=world.auth("root")).status_code == 200
    status, body = _me(world, "bob")
    assert status == 401 and "disabled" in str(body)
    assert world.client.post("/api/v1/users/bob/enable", headers=world.auth("root")).status_code == 200
    assert _me(world, "bob")[0] == 200


def test_a_tokens_use_is_recorded_at_most_once_a_minute(world: World) -> None:
    clock = world.platform.clock
    assert isinstance(clock, ManualClock)

    def last_used() -> object:
        with world.platform.uow(read_only=True) as uow:
            user = user_principal(uow, "bob")
            query = select(ApiTokenRow.last_used_at).where(ApiTokenRow.user_id == user.user_id)
            return uow.session.execute(query).scalars().first()

    def write(name: str) -> None:  # a write records the token's use with its own changes, when due
        made = world.client.post("/api/v1/tokens", json={"name": name}, headers=world.auth("bob"))
        assert made.status_code == 201

    first = clock.now()
    write("second")
    assert last_used() == first
    clock.advance(30)
    assert _me(world, "bob")[0] == 200
    write("third")
    assert last_used() == first
    clock.advance(30)
    write("fourth")
    assert last_used() == clock.now()
