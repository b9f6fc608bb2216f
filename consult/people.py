"""Users, logins and bearer tokens.

Tokens are 256-bit random strings handed to the client once; the server keeps only their SHA-256
digest, so a copy of the database does not let anyone sign in. Repeated failures lock the account
for a while; every attempt is audited.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass

from sqlalchemy import select, update

from consult.center import Work
from consult.errors import AccountLocked, AuthenticationFailed, Conflict, InvalidInput, NotFound
from consult.models import AuthToken, Department, Institution, User
from consult.principal import Principal, principal_for
from consult.vocab import InstitutionLevel, Role

COUNTY_ROLES = frozenset(Role) - {Role.VILLAGE_DOCTOR, Role.TOWNSHIP_DOCTOR}
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


async def login(work: Work, username: str, password: str) -> IssuedToken:
    """Check the password and issue a token; count failures and lock after too many."""
    user = await work.session.scalar(select(User).where(User.username == username))
    if user is None or not user.active:
        await work.center.passwords.verify_nobody(password)
        work.deny("auth.login", username=username, reason="unknown or inactive user")
        raise AuthenticationFailed("wrong username or password")
    if user.locked_until is not None and user.locked_until > work.now:
        work.deny("auth.login", obj=("user", user.id), reason="locked")
        raise AccountLocked(f"account locked until {user.locked_until.isoformat()}")
    if not await work.center.passwords.verify(user.password_hash, password):
        await _count_failure(work, user)
        raise AuthenticationFailed("wrong username or password")
    user.failed_logins = 0
    user.locked_until = None
    if work.center.passwords.needs_rehash(user.password_hash):
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


async def _count_failure(work: Work, user: User) -> None:
    """Record a failed attempt in its own transaction (the login's own one is rolled back)."""
    async with work.center.sessions() as session, session.begin():
        failures = user.failed_logins + 1
        locked = (
            work.now + work.policy.lockout_duration
            if failures >= work.policy.lockout_threshold
            else None
        )
        await session.execute(
            update(User)
            .where(User.id == user.id)
            .values(failed_logins=0 if locked else failures, locked_until=locked)
        )
    work.deny(
        "auth.login", obj=("user", user.id), reason="wrong password", locked=locked is not None
    )


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
    user.active = active
    if not active:
        await revoke_all(work, user.id)
    work.audit("user.active", obj=("user", user.id), active=active)
    return user


async def list_users(work: Work) -> list[User]:
    return list(await work.session.scalars(select(User).order_by(User.id)))
