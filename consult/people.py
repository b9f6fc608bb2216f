"""Users, logins and bearer tokens.

Tokens are 256-bit random strings handed to the client once; the server keeps only their SHA-256
digest, so a copy of the database does not let anyone sign in. Repeated failures lock the account
for a while; every attempt is audited.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import secrets
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any, NoReturn, TypeVar

from sqlalchemy import exists, select, update
from sqlalchemy.orm import aliased

from consult.center import Center, Work
from consult.errors import (
    AccountLocked,
    AuthenticationFailed,
    Busy,
    Conflict,
    InvalidInput,
    NotFound,
)
from consult.models import AuthToken, Department, Institution, User
from consult.principal import Principal, principal_for
from consult.vocab import InstitutionLevel, Outcome, Role

COUNTY_ROLES = frozenset(Role) - {Role.VILLAGE_DOCTOR, Role.TOWNSHIP_DOCTOR}
T = TypeVar("T")
ROLE_LEVEL = {
    Role.VILLAGE_DOCTOR: InstitutionLevel.VILLAGE,
    Role.TOWNSHIP_DOCTOR: InstitutionLevel.TOWNSHIP,
}


@dataclass(frozen=True)
class IssuedToken:
    token: str
    expires_at: dt.datetime
    user: User


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class _Account:
    """What a sign-in needs of a user, read in a short transaction of its own."""

    id: int
    password_hash: str
    locked_until: dt.datetime | None


async def sign_in(center: Center, username: str, password: str, *, client: str) -> IssuedToken:
    """Check the password and issue a token; count failures and lock after too many.

    No transaction is open while the password is checked (the slow part), and none waits for
    another: the account is read in one short transaction and the outcome written in a second.
    A failure is counted by one conditional ``UPDATE`` (the row's own lock orders racing
    attempts), so parallel wrong passwords lock the account at exactly the threshold, and every
    refusal is audited in the transaction that counts it.

    Raises
    ------
    AccountLocked
        The account is locked (also when the threshold is reached by this attempt's race).
    AuthenticationFailed
        Unknown or disabled user, or a wrong password (the same answer for both).
    Busy
        The password hashing pool is full: refused before the account is read (known and
        unknown users alike), or when the check was to start.
    """
    try:
        center.passwords.check_room()  # before anything is read: known and unknown users alike
    except Busy:
        await _audit_busy(center, client, username, None)
        raise
    async with center.work(client=client) as work:
        account = await _account(work, username)
    if account is None:
        await _checked(center, client, username, None, center.passwords.verify_nobody(password))
        return await _refuse(center, client, username, None, "unknown or inactive user")
    if account.locked_until is not None and account.locked_until > center.clock():
        return await _refuse(center, client, username, account.id, "locked")
    check = center.passwords.verify(account.password_hash, password)
    if not await _checked(center, client, username, account.id, check):
        return await _count_failure(center, client, username, account.id)
    async with center.work(client=client) as work:
        return await _issue(work, account, password)


async def _checked(
    center: Center, client: str, username: str, user_id: int | None, check: Awaitable[T]
) -> T:
    """Await a password check; one refused because hashing is busy is audited (and raised)."""
    try:
        return await check
    except Busy:
        await _audit_busy(center, client, username, user_id)
        raise


async def _audit_busy(center: Center, client: str, username: str, user_id: int | None) -> None:
    async with center.work(client=client) as work:
        _audit_refusal(work, username, user_id, "busy")


async def _account(work: Work, username: str) -> _Account | None:
    row = (
        await work.session.execute(
            select(User.id, User.password_hash, User.locked_until).where(
                User.username == username, User.active.is_(True)
            )
        )
    ).first()
    return None if row is None else _Account(*row)


async def _issue(work: Work, account: _Account, password: str) -> IssuedToken:
    # -- the account may have been locked, disabled or changed while the password was checked --
    user = await work.session.scalar(
        select(User).where(User.id == account.id, User.active.is_(True)).with_for_update(of=User)
    )
    if user is None or user.password_hash != account.password_hash:
        work.deny("auth.login", obj=("user", account.id), reason="changed during sign-in")
        raise AuthenticationFailed("wrong username or password")
    if user.locked_until is not None and user.locked_until > work.now:
        work.deny("auth.login", obj=("user", account.id), reason="locked")
        raise AccountLocked("account locked after too many failed sign-ins")
    user.failed_logins = 0
    user.locked_until = None
    if work.center.passwords.needs_rehash(user.password_hash):
        with contextlib.suppress(Busy):  # the old hash stays good: rehashed at a later sign-in
            user.password_hash = await work.center.passwords.hash(password)
    token = secrets.token_urlsafe(32)
    expires = work.now + work.policy.token_ttl
    work.session.add(
        AuthToken(
            digest=token_digest(token), user_id=user.id, expires_at=expires, client_ip=work.client
        )
    )
    work.audit("auth.login", obj=("user", user.id), actor=user.username)
    return IssuedToken(token=token, expires_at=expires, user=user)


async def _count_failure(center: Center, client: str, username: str, user_id: int) -> NoReturn:
    async with center.work(client=client) as work:
        now = work.now
        failures = await work.session.scalar(
            update(User)
            .where(User.id == user_id, (User.locked_until.is_(None)) | (User.locked_until <= now))
            .values(failed_logins=User.failed_logins + 1)
            .returning(User.failed_logins)
        )
        if failures is None:  # a racing attempt locked it first
            reason, locked_until = "locked", None
        elif failures >= work.policy.lockout_threshold:
            reason, locked_until = "wrong password", now + work.policy.lockout_duration
            await work.session.execute(
                update(User)
                .where(User.id == user_id)
                .values(failed_logins=0, locked_until=locked_until)
            )
        else:
            reason, locked_until = "wrong password", None
        _audit_refusal(work, username, user_id, reason, locked=locked_until is not None)
    if reason == "locked":
        raise AccountLocked("account locked after too many failed sign-ins")
    raise AuthenticationFailed("wrong username or password")  # this one's failure locks it


async def _refuse(
    center: Center, client: str, username: str, user_id: int | None, reason: str
) -> NoReturn:
    async with center.work(client=client) as work:
        _audit_refusal(work, username, user_id, reason)
    if reason == "locked":
        raise AccountLocked("account locked after too many failed sign-ins")
    raise AuthenticationFailed("wrong username or password")


def _audit_refusal(
    work: Work, username: str, user_id: int | None, reason: str, **detail: Any
) -> None:
    work.audit(
        "auth.login",
        obj=("user", user_id) if user_id is not None else None,
        outcome=Outcome.DENIED,
        username=username[:64],
        reason=reason,
        **detail,
    )


async def refuse_throttled(center: Center, client: str, username: str, scope: str) -> None:
    """Audit a sign-in refused before any check because of too many attempts."""
    async with center.work(client=client) as work:
        _audit_refusal(work, username, None, "rate limited", scope=scope)


async def authenticate(work: Work, token: str) -> Principal:
    """The principal a bearer token stands for."""
    row = (
        await work.session.execute(
            select(AuthToken, User)
            .join(User, User.id == AuthToken.user_id)
            .where(AuthToken.digest == token_digest(token))
        )
    ).first()
    if row is None:
        raise AuthenticationFailed("unknown token")
    issued, user = row
    if issued.revoked_at is not None or issued.expires_at <= work.now:
        raise AuthenticationFailed("token expired or revoked")
    if not user.active:
        raise AuthenticationFailed("user is disabled")
    return await principal_for(work.session, user)


SESSION_ENDED = "session.ended"
"""Event kind, after a commit that revoked tokens: ``token`` names the digest of the one token
ended; without it, every token of the user ended. Sockets opened with them close."""


async def logout(work: Work, token: str) -> None:
    digest = token_digest(token)
    await work.session.execute(
        update(AuthToken).where(AuthToken.digest == digest).values(revoked_at=work.now)
    )
    work.audit("auth.logout", obj=("user", work.principal.user_id))
    work.emit(SESSION_ENDED, {work.principal.user_id}, token=digest)


async def revoke_all(work: Work, user_id: int) -> None:
    await work.session.execute(
        update(AuthToken)
        .where(AuthToken.user_id == user_id, AuthToken.revoked_at.is_(None))
        .values(revoked_at=work.now)
    )
    work.emit(SESSION_ENDED, {user_id})


def ends_session(kind: str, payload: dict[str, object], digest: str) -> bool:
    """Whether an event ends the token whose digest is ``digest``."""
    return kind == SESSION_ENDED and payload.get("token") in (None, digest)


async def token_expiry(work: Work, token: str) -> dt.datetime | None:
    """When ``token`` expires; None when it is unknown, revoked, expired or its user disabled."""
    row = (
        await work.session.execute(
            select(AuthToken.expires_at)
            .join(User, User.id == AuthToken.user_id)
            .where(
                AuthToken.digest == token_digest(token),
                AuthToken.revoked_at.is_(None),
                AuthToken.expires_at > work.now,
                User.active.is_(True),
            )
        )
    ).first()
    return None if row is None else row[0]


async def create_user(
    work: Work,
    *,
    username: str,
    password: str,
    display_name: str,
    role: Role,
    institution_id: int,
    department_code: str | None = None,
    password_hash: str | None = None,
) -> User:
    """Create a user; the role must fit the institution's level."""
    username = username.strip()
    if (
        not username
        or len(username) > 64
        or not username.replace("-", "").replace("_", "").isalnum()
    ):
        raise InvalidInput("username must be 1-64 letters, digits, - or _", field="username")
    if await work.session.scalar(select(User.id).where(User.username == username)):
        raise Conflict(f"username {username!r} is taken", field="username")
    institution = await work.session.get(Institution, institution_id)
    if institution is None:
        raise InvalidInput(f"no institution {institution_id}", field="institution_id")
    _check_role_fits(role, institution)
    department_id = None
    if department_code:
        department_id = await work.session.scalar(
            select(Department.id).where(
                Department.institution_id == institution.id, Department.code == department_code
            )
        )
        if department_id is None:
            raise InvalidInput(f"no department {department_code!r}", field="department")
    try:
        hashed = password_hash or await work.center.passwords.hash(password)
    except ValueError as exc:
        raise InvalidInput(str(exc), field="password") from None
    user = User(
        username=username,
        display_name=display_name or username,
        password_hash=hashed,
        role=role,
        institution_id=institution.id,
        department_id=department_id,
    )
    work.session.add(user)
    await work.session.flush()
    work.audit("user.create", obj=("user", user.id), username=username, role=str(role))
    return user


def _check_role_fits(role: Role, institution: Institution) -> None:
    wanted = ROLE_LEVEL.get(role, InstitutionLevel.COUNTY)
    if institution.level is not wanted:
        raise InvalidInput(
            f"role {role} belongs at a {wanted} institution, not a {institution.level}",
            field="role",
        )


async def set_password(work: Work, user_id: int, password: str) -> None:
    user = await work.session.get(User, user_id)
    if user is None:
        raise NotFound(f"no user {user_id}")
    try:
        user.password_hash = await work.center.passwords.hash(password)
    except ValueError as exc:
        raise InvalidInput(str(exc), field="password") from None
    user.failed_logins = 0
    user.locked_until = None
    await revoke_all(work, user.id)
    work.audit("user.password", obj=("user", user.id))


async def set_active(work: Work, user_id: int, active: bool) -> User:
    user = await work.session.get(User, user_id)
    if user is None:
        raise NotFound(f"no user {user_id}")
    if not active:
        await _check_may_disable(work, user)
    user.active = active
    if not active:
        await revoke_all(work, user.id)
    work.audit("user.active", obj=("user", user.id), active=active)
    return user


async def _check_may_disable(work: Work, user: User) -> None:
    """Nobody locks themselves out, and the center always keeps an administrator."""
    if user.id == work.principal.user_id:
        raise Conflict("you cannot disable your own account", code="own_account")
    if user.role is not Role.ADMIN or not user.active:
        return
    # PostgreSQL: the active admins' rows are locked, so two admins disabling each other at once
    # take turns; SQLite: the one conditional UPDATE below is atomic under its write lock
    await work.session.execute(
        select(User.id).where(User.role == Role.ADMIN, User.active.is_(True)).with_for_update()
    )
    other = aliased(User)
    disabled = await work.session.execute(
        update(User)
        .where(
            User.id == user.id,
            exists().where(other.role == Role.ADMIN, other.active.is_(True), other.id != user.id),
        )
        .values(active=False)
        .execution_options(synchronize_session=False)
    )
    if disabled.rowcount == 0:  # type: ignore[attr-defined]
        raise Conflict("the last active administrator cannot be disabled", code="last_admin")


async def list_users(work: Work) -> list[User]:
    return list(await work.session.scalars(select(User).order_by(User.id)))
