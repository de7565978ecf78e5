"""Principals and tokens: site clients and users exchange secrets for expiring, revocable tokens."""

from datetime import timedelta

from sqlalchemy import and_, bindparam, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from orchestrator.runtime import schema as s
from orchestrator.runtime import security
from orchestrator.runtime.errors import Conflict, InvalidArgument, PermissionDenied, Unauthenticated, not_found
from orchestrator.runtime.models import IDENTIFIER, Credentials, Page, Principal, SiteClient, Token
from orchestrator.runtime.schema import utcnow
from orchestrator.runtime.store.logins import LoginLimitStore
from orchestrator.runtime.store.rows import read_model

# The address of logins that do not come over HTTP (the CLI, tests); they share one set of counters.
LOCAL = "local"


# Every request checks its token: one statement, built once (building a Core statement per call cost
# more than running it).
_TOKEN_LOOKUP = (
    select(
        s.tokens.c.principal_kind,
        s.tokens.c.principal_id,
        s.tokens.c.revoked,
        s.tokens.c.expires_at,
        s.users.c.is_admin,
    )
    .outerjoin(s.users, and_(s.tokens.c.principal_kind == "user", s.users.c.id == s.tokens.c.principal_id))
    .where(s.tokens.c.token_hash == bindparam("digest"))
)


def require_site(principal: Principal) -> Principal:
    if principal.kind != "site":
        raise PermissionDenied("SITE_ONLY", "Only a site (a client_credentials token) may do this.")
    return principal


def _bad_credentials() -> Unauthenticated:
    # A new error each time: raising one shared instance again would chain every traceback onto it,
    # keeping each failed attempt's frames (and the secrets in them) alive.
    return Unauthenticated("INVALID_CREDENTIALS", "Unknown client or user, or wrong secret.")


def _require_site(conn, site_id: str) -> None:
    if conn.execute(select(s.sites.c.id).where(s.sites.c.id == site_id)).first() is None:
        raise not_found("site", site_id)


class AuthStore(LoginLimitStore):
    def generate_credentials(self, site_id: str) -> Credentials:
        """A new client for `site_id`; the secret is shown once and stored only as a hash."""
        secret = security.new_secret()
        client_id = security.new_id("client")
        with self.write() as conn:
            _require_site(conn, site_id)
            conn.execute(
                insert(s.site_clients).values(
                    client_id=client_id,
                    site_id=site_id,
                    hashed_secret=security.hash_secret(secret),
                    created_at=utcnow(),
                )
            )
        return Credentials(site_id=site_id, client_id=client_id, client_secret=secret)

    def list_credentials(self, site_id: str, after_seq: int = 0, limit: int = 100) -> Page[SiteClient]:
        with self.read() as conn:
            _require_site(conn, site_id)  # 404 for an unknown site rather than an empty page
        clients = s.site_clients
        return self.page(
            clients,
            lambda row: read_model(SiteClient, dict(row._mapping), "client"),
            after_seq,
            limit,
            clients.c.site_id == site_id,
        )

    def revoke_credentials(self, site_id: str, client_id: str) -> None:
        """Delete the client and revoke every token it got, in one transaction: nothing it holds works after."""
        with self.write() as conn:
            gone = conn.execute(
                delete(s.site_clients).where(
                    s.site_clients.c.site_id == site_id, s.site_clients.c.client_id == client_id
                )
            ).rowcount
            if not gone:
                raise not_found("client", client_id)
            conn.execute(update(s.tokens).where(s.tokens.c.client_id == client_id).values(revoked=True))

    def create_user(self, username: str, password: str, is_admin: bool = False) -> None:
        if not IDENTIFIER.fullmatch(username) or len(username) > 200:
            raise InvalidArgument(
                "INVALID_ARGUMENT",
                f"User name {username!r} must be 1-200 letters, digits or ._:- and start with a letter or digit.",
                {"username": username},
            )
        if not password:
            raise InvalidArgument("INVALID_ARGUMENT", "The password must not be empty.")
        try:
            with self.write() as conn:
                conn.execute(
                    insert(s.users).values(
                        id=username,
                        hashed_password=security.hash_secret(password),
                        is_admin=is_admin,
                        created_at=utcnow(),
                    )
                )
        except IntegrityError:
            raise Conflict("ALREADY_EXISTS", f"A user named {username!r} already exists.", {"id": username}) from None

    def get_user(self, username: str) -> Principal:
        """The user as a principal (404 if there is none); never their password hash."""
        with self.read() as conn:
            row = conn.execute(select(s.users.c.id, s.users.c.is_admin).where(s.users.c.id == username)).first()
        if row is None:
            raise not_found("user", username)
        return Principal(kind="user", id=row.id, is_admin=row.is_admin)

    def token_for_client(self, client_id: str, client_secret: str, address: str = LOCAL) -> Token:
        row = self._login(
            "client",
            client_id,
            client_secret,
            address,
            s.site_clients.c.client_id,
            s.site_clients.c.hashed_secret,
            verify=security.verify_secret_remembered,  # sites log in once per run worker
        )
        return self._issue("site", row.site_id, client_id)

    def token_for_user(
        self, username: str, password: str, address: str = LOCAL, ttl_seconds: int | None = None
    ) -> Token:
        self._login("user", username, password, address, s.users.c.id, s.users.c.hashed_password)
        return self._issue("user", username, None, ttl_seconds)

    def _login(
        self, kind: str, id_: str, secret: str, address: str, id_column, hash_column, verify=security.verify_secret
    ):
        """The row of `id_` if `secret` is its secret; every failure costs one scrypt and counts (rate limit)."""
        failed_before = self.check_login_allowed(kind, id_, address)
        with self.read() as conn:
            row = conn.execute(select(id_column.table).where(id_column == id_)).first()
        hashed = security.dummy_hash() if row is None else row._mapping[hash_column]
        if not verify(secret, hashed) or row is None:
            self.record_login_failure(kind, id_, address)
            raise _bad_credentials()
        if failed_before:
            self.clear_login_failures(kind, id_, address)
        return row

    def _issue(self, kind: str, principal_id: str, client_id: str | None, ttl: int | None = None) -> Token:
        token, now = security.new_token(), utcnow()
        ttl = ttl or self.settings.token_ttl_seconds
        with self.write() as conn:
            # Locks the client row against a concurrent revoke, which then also revokes this token.
            if (
                client_id
                and conn.execute(
                    select(s.site_clients.c.client_id).where(s.site_clients.c.client_id == client_id).with_for_update()
                ).first()
                is None
            ):
                raise _bad_credentials()
            conn.execute(
                insert(s.tokens).values(
                    token_hash=security.token_digest(token),
                    principal_kind=kind,
                    principal_id=principal_id,
                    client_id=client_id,
                    expires_at=now + timedelta(seconds=ttl),
                    revoked=False,
                    created_at=now,
                )
            )
        return Token(access_token=token, expires_in=ttl)

    def authenticate(self, token: str, conn=None) -> Principal:
        """The token's principal; `conn` checks it inside a transaction the caller already holds."""
        digest = security.token_digest(token)
        if conn is None:
            with self.read() as conn:
                row = conn.execute(_TOKEN_LOOKUP, {"digest": digest}).first()
        else:
            row = conn.execute(_TOKEN_LOOKUP, {"digest": digest}).first()
        if row is None:
            raise Unauthenticated("INVALID_TOKEN", "The access token is not valid. Request a new one at POST /token.")
        if row.revoked:
            raise Unauthenticated("TOKEN_REVOKED", "The access token was revoked. Request a new one at POST /token.")
        if row.expires_at <= utcnow():
            raise Unauthenticated("TOKEN_EXPIRED", "The access token has expired. Request a new one at POST /token.")
        return Principal(kind=row.principal_kind, id=row.principal_id, is_admin=bool(row.is_admin), token_hash=digest)

    def revoke_token(self, token: str, by: Principal) -> None:
        """Revoke `token` if it belongs to `by` (or `by` is an admin); unknown tokens are ignored (RFC 7009)."""
        where = [s.tokens.c.token_hash == security.token_digest(token)]
        if not by.is_admin:
            where += [s.tokens.c.principal_kind == by.kind, s.tokens.c.principal_id == by.id]
        with self.write() as conn:
            conn.execute(update(s.tokens).where(*where).values(revoked=True))
