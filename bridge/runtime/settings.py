"""Configuration: one TOML file, ``LAPOR_BRIDGE_<SECTION>__<KEY>`` overrides, ``<secret>_file``.

Adapters own the keys peculiar to their app: a source section keeps its
extra keys (``model_extra``) and the adapter validates them with its own
model through :func:`adapter_config`, so a bad key is still reported with
its full dotted name.

What is refused, and what is only worth a warning (:func:`config_warnings`):
a number that is not finite (``inf``, ``nan``) is refused; so is plain
``http://`` to a host that is not loopback, unless its section sets
``allow_insecure_http = true`` (then it is a warning). ``http_listen`` off
loopback and a secret file that group or others may read are warnings; so is a
deprecated key (``[lapor] poll_budget``), which still works.
"""

from __future__ import annotations

import ipaddress
import math
import os
import re
import stat
import tomllib
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal, Self, TypeVar
from urllib.parse import parse_qs, urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ModelWrapValidatorHandler,
    PrivateAttr,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from bridge.core.tags import SOURCE_NAME
from bridge.core.tracking import COST, HOUR, MAX_VIEW_AGE, TRACKING_PER_HOUR, Tracking
from bridge.sync.inflight import DEFAULT_MAX_IN_FLIGHT

SECRET_KEYS = frozenset(
    {"api_secret", "token", "api_key", "client_secret", "password", "database_password"}
)
#: read by the service and the operator's CLI alike unless --config or $LAPOR_BRIDGE_CONFIG
DEFAULT_PATH = Path("/etc/lapor-bridge/config.toml")
ENV_PATH = "LAPOR_BRIDGE_CONFIG"
#: where the unit hands over each file of its credentials folder (packaging/lapor-bridge.service:
#: ``LoadCredential=secret:/etc/lapor-bridge/credentials``)
SERVICE_CREDENTIAL = "/run/credentials/lapor-bridge.service/secret_"
#: the credentials folder beside the configuration being read (set by :func:`load_settings`)
_credentials_folder: ContextVar[Path | None] = ContextVar("_credentials_folder", default=None)


class ConfigError(Exception):
    """A configuration problem, worded for the operator; names the key, never a value."""

    def __init__(self, key: str, problem: str) -> None:
        super().__init__(f"{key}: {problem}" if key else problem)
        self.key = key
        self.problem = problem


def _outside_the_service(path: Path) -> Path:
    """``/run/credentials/lapor-bridge.service/secret_NAME`` exists only inside the running
    service (systemd sets ``$CREDENTIALS_DIRECTORY`` there). Outside it — the operator's
    ``lapor-bridge`` as root, the service stopped or not yet started — the same secret is read
    from the file the unit loads it from: ``credentials/NAME`` beside the configuration."""
    folder = _credentials_folder.get()
    name = str(path).removeprefix(SERVICE_CREDENTIAL)
    if folder is None or name == str(path) or "CREDENTIALS_DIRECTORY" in os.environ:
        return path
    return path if path.exists() else folder / name


def _read_secret_files(data: Any, loose: list[str] | None = None) -> Any:
    """Replace ``<secret>_file = "/path"`` by the secret read from that file.

    The name of each ``<secret>_file`` key whose file group or others may read is
    appended to ``loose`` (the key, never the path's content).
    """
    if not isinstance(data, dict):
        return data
    out = dict(data)
    for key in list(out):
        if not key.endswith("_file"):
            continue
        base = key.removesuffix("_file")
        if base not in SECRET_KEYS:
            continue
        if base in out:
            # the environment's form has already replaced the file's (_without_overridden)
            raise ValueError(f"give {base} or {key}, not both")
        path = _outside_the_service(Path(str(out.pop(key))))
        try:
            with path.open(encoding="utf-8") as file:
                # the mode of the very file read, not of whatever the path names later
                mode = os.fstat(file.fileno()).st_mode
                if loose is not None and mode & (stat.S_IRGRP | stat.S_IROTH):
                    loose.append(key)
                out[base] = file.read().strip()
        except OSError as exc:
            raise ValueError(f"cannot read {key} ({exc.strerror or 'unreadable'})") from None
    return out


class _Section(BaseModel):
    # TOML and the environment both accept inf and nan: no setting means either
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    _loose_secret_files: list[str] = PrivateAttr(default_factory=list)

    @model_validator(mode="wrap")
    @classmethod
    def _secret_files(cls, data: Any, handler: ModelWrapValidatorHandler[Self]) -> Self:
        loose: list[str] = []
        section = handler(_read_secret_files(data, loose))
        if isinstance(data, dict):
            section._loose_secret_files = loose
        return section

    def loose_secret_files(self) -> list[str]:
        """The ``<secret>_file`` keys of this section whose file group or others may read."""
        return list(self._loose_secret_files)


LogLevel = Literal["debug", "info", "warning", "error", "critical"]
#: ``host:port`` with a literal address: IPv4, or IPv6 in brackets
_LISTEN = re.compile(r"^(?:\[(?P<v6>[^\]]+)\]|(?P<v4>[0-9.]+)):(?P<port>[0-9]{1,5})$")
_LISTEN_HINT = 'use an IP address such as 127.0.0.1:9464 ([::1]:9464 for IPv6), or "" for off'


def parse_listen(value: str) -> tuple[str, int]:
    """``(address, port)`` of an ``http_listen`` value; ``ValueError`` worded for the operator.

    A name such as ``localhost`` is refused: what it resolves to (127.0.0.1, ::1, or
    worse) is up to the resolver, and the health server must not guess.
    """
    match = _LISTEN.match(value)
    if match is None:
        raise ValueError(f"not an IP address and port: {_LISTEN_HINT}")
    host = match["v6"] if match["v6"] is not None else match["v4"]
    try:
        address = (
            ipaddress.IPv6Address(host) if match["v6"] is not None else ipaddress.IPv4Address(host)
        )
    except ValueError:
        raise ValueError(f"not an IP address and port: {_LISTEN_HINT}") from None
    port = int(match["port"])
    if not 1 <= port <= 65535:
        raise ValueError(f"the port must be 1-65535: {_LISTEN_HINT}")
    return str(address), port


#: the URL schemes naming a PostgreSQL state database (libpq's); anything else is a path
POSTGRES_SCHEMES = ("postgresql", "postgres")


@dataclass(frozen=True)
class PostgresDatabase:
    """A PostgreSQL state database: ``url`` (libpq's URI, never carrying a password) and the
    password read from ``database_password`` or ``database_password_file``.

    Shown (``str``) as its URL: a message naming the database never names the password.
    """

    url: str
    password: SecretStr | None = None

    def __str__(self) -> str:
        return self.url


#: where the state lives: a SQLite file, or a PostgreSQL database
StateDatabase = Path | PostgresDatabase


def _postgres_url(value: str) -> PostgresDatabase:
    """``value`` as a :class:`PostgresDatabase`; ``ValueError`` worded for the operator when it
    is malformed or carries a password (the configuration is no place for one)."""
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 -- urlsplit checks the port only when asked
    except ValueError as exc:
        raise ValueError(f"not a PostgreSQL URL ({exc})") from None
    query = parse_qs(parts.query)
    if parts.password is not None or "password" in query:
        raise ValueError(
            "a PostgreSQL URL must not carry the password: remove it from the URL and give"
            ' database_password_file = "/path" (a file only the bridge\'s user reads)'
        )
    return PostgresDatabase(value)


def postgres_database(value: str, password: SecretStr | None = None) -> PostgresDatabase:
    """``value`` as a :class:`PostgresDatabase` with ``password``: ``ValueError`` worded for
    the operator when it is no ``postgresql://`` URL, is malformed or carries a password."""
    scheme, colon, rest = value.partition(":")
    if not colon or scheme.lower() not in POSTGRES_SCHEMES:
        raise ValueError("not a PostgreSQL URL (postgresql://user@host:port/dbname)")
    return PostgresDatabase(_postgres_url(scheme.lower() + colon + rest).url, password)


class BridgeSection(_Section):
    #: a path to a SQLite file (the default), or a ``postgresql://`` URL without a password
    database: StateDatabase = Path("bridge.db")
    #: the PostgreSQL database's password (best as ``database_password_file``)
    database_password: SecretStr | None = None
    poll_interval_seconds: float = Field(default=60, gt=0)
    #: PostgreSQL: a replica's lease on a source's or an account's passes lasts this long
    #: unless renewed (every third of it); a dead replica's work is taken over within two
    lease_seconds: float = Field(default=30, ge=1, le=3600)
    http_listen: str = "127.0.0.1:9464"
    log_level: LogLevel = "info"
    log_format: str = Field(default="auto", pattern="^(auto|json|console)$")
    #: the bridge's own promise (``report sla``, clock ``delivery``): filed in the app →
    #: created on LAPOR, in working days
    delivery_promise_days: float = Field(default=1, gt=0, le=365)

    @field_validator("database", mode="before")
    @classmethod
    def _database(cls, value: Any) -> Any:
        scheme, colon, rest = value.partition(":") if isinstance(value, str) else ("", "", "")
        if colon and scheme.lower() in POSTGRES_SCHEMES:
            return _postgres_url(scheme.lower() + colon + rest)  # libpq reads it lowercase
        return value

    @model_validator(mode="after")
    def _database_password(self) -> Self:
        if self.database_password is None:
            return self
        if not isinstance(self.database, PostgresDatabase):
            raise _KeyError(
                "bridge.database_password",
                'only for a PostgreSQL database (database = "postgresql://…"); a SQLite'
                " file has no password",
            )
        self.database = PostgresDatabase(self.database.url, self.database_password)
        return self

    @field_validator("http_listen")
    @classmethod
    def _listen(cls, value: str) -> str:
        if value:
            parse_listen(value)
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _level_any_case(cls, value: Any) -> Any:
        return value.lower() if isinstance(value, str) else value


#: lapor.md's capabilities: modelled endpoints and fields a deployment turns on only after
#: the LAPOR team confirms them; none configured is the evidenced profile
CAPABILITIES = ("tag_search", "inbox", "categories", "mark_completed", "reporter")
Capability = Literal["tag_search", "inbox", "categories", "mark_completed", "reporter"]
#: an HTTP header name (RFC 9110 token)
_HEADER_NAME = r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$"


#: the smallest budget: one complaint and its follow-ups
TRACKING_MIN = COST


class AccountSection(_Section):
    api_secret: SecretStr
    token: SecretStr
    user_id: int = Field(gt=0)  # the integration user's LAPOR id
    institution: str = Field(min_length=1)
    home_source: str | None = None
    #: the SLA report's agency names: each app's code or spelling → one canonical name
    agencies: dict[str, str] = Field(default_factory=dict)
    #: the city's own promise (``report sla``, clock ``city_response``), in working days
    city_response_days: float = Field(default=5, gt=0, le=365)
    #: the city's local holidays and working days (bridge.reports.workdays): a path, or unset
    local_holidays_file: Path | None = None
    #: this account's own budget for following complaints by id ([lapor]'s when unset)
    tracking_requests_per_hour: int | None = Field(default=None, ge=TRACKING_MIN)

    @field_validator("agencies")
    @classmethod
    def _agency_names(cls, value: dict[str, str]) -> dict[str, str]:
        for key, name in value.items():
            if not key.strip() or not name.strip():
                raise ValueError(f"an agency alias and its name are not empty ({key!r})")
        return value

    @field_validator("local_holidays_file")
    @classmethod
    def _local_holidays(cls, value: Path | None) -> Path | None:
        if value is not None:
            from bridge.reports.workdays import read_local_days

            read_local_days(value)  # LocalDaysError is a ValueError naming the line
        return value


class TemplatesSection(_Section):
    """``template_code`` of each kind of follow-up the bridge posts (``/masters/templates``)."""

    reply: str = Field(default="reply", min_length=1)
    done: str = Field(default="done", min_length=1)


class LaporSection(_Section):
    base_url: str = Field(pattern=r"^https?://")
    #: let ``base_url`` be plain ``http://`` to a host that is not loopback (a warning)
    allow_insecure_http: bool = False
    auth_header: str = Field(default="Authorization", pattern=_HEADER_NAME)
    capabilities: list[Capability] = Field(default_factory=list)
    requests_per_second: float = Field(default=5.0, gt=0)
    #: requests a source pass has in flight to each account at once (1: one at a time);
    #: the rate limit above still holds for all of them together
    max_in_flight: int = Field(default=DEFAULT_MAX_IN_FLIGHT, ge=1, le=64)
    timeout_seconds: float = Field(default=30.0, gt=0)
    create_timeout_seconds: float = Field(default=120.0, gt=0)
    #: the most ids read to settle a create whose answer was lost (those the bridge's own
    #: creates hold are not read nor counted)
    scan_limit: int = Field(default=500, ge=0)
    #: requests an hour each account may spend following its complaints by id (reads of a
    #: complaint and of its follow-ups: bridge/core/tracking.py); an account may set its own
    tracking_requests_per_hour: int | None = Field(default=None, ge=TRACKING_MIN)
    #: deprecated: requests a pass; read as poll_budget × 3600 / poll_interval_seconds an
    #: hour when tracking_requests_per_hour is not set (a warning says so)
    poll_budget: int | None = Field(default=None, ge=1)
    #: an open complaint whose view (its last read) is older is read before the others
    tracking_max_view_age_hours: float = Field(default=MAX_VIEW_AGE / HOUR, gt=0, le=24 * 90)
    templates: TemplatesSection = Field(default_factory=TemplatesSection)
    accounts: dict[str, AccountSection] = Field(min_length=1)

    def has(self, capability: str) -> bool:
        return capability in self.capabilities


class SourceSection(_Section):
    """Keys every source has; the adapter of ``kind`` validates the rest."""

    model_config = ConfigDict(extra="allow", allow_inf_nan=False)

    kind: str
    account: str
    base_url: str = Field(pattern=r"^https?://")
    #: let this source's URLs be plain ``http://`` to a host that is not loopback (a warning)
    allow_insecure_http: bool = False
    # lapor.md: LAPOR's own integer region id, not a region code like "21.72"
    location_id: int = Field(gt=0)
    channel: int = Field(default=13, gt=0)
    classification_id: int = Field(gt=0)
    #: app category → LAPOR category id, or (capability "categories") a name path
    categories: dict[str, int | str] = Field(default_factory=dict)
    #: send the reporter's name, phone and e-mail to LAPOR (never the NIK); off by default
    send_reporter: bool = False
    requests_per_second: float = Field(default=10.0, gt=0)
    #: write-backs a pass has in flight to this app at once (1: one at a time)
    max_in_flight: int = Field(default=DEFAULT_MAX_IN_FLIGHT, ge=1, le=64)
    timeout_seconds: float = Field(default=30.0, gt=0)
    page_size: int = Field(default=100, gt=0)

    @field_validator("location_id", mode="before")
    @classmethod
    def _not_a_region_code(cls, value: Any) -> Any:
        if isinstance(value, str) and "." in value:
            raise ValueError(
                f"LAPOR's own integer region id is needed, not a region code like {value!r}"
                " (lapor.md: location_id)"
            )
        return value

    def urls(self) -> dict[str, str]:
        """Every URL key of this section: ``base_url`` and any adapter key ending ``_url``."""
        found = {"base_url": self.base_url}
        for key, value in (self.model_extra or {}).items():
            if key.endswith("_url") and isinstance(value, str):
                found[key] = value
        return found


def _secret_forms(key: str) -> tuple[str, str] | None:
    """``(secret, secret_file)`` when ``key`` is either form of a secret, else None."""
    base = key.removesuffix("_file")
    return (base, f"{base}_file") if base in SECRET_KEYS else None


def _without_overridden(file: dict[str, Any], env: dict[str, Any]) -> dict[str, Any]:
    """``file`` minus every secret the environment gives in either form.

    Without this, ``api_secret_file`` from the file would be read after the merge and
    overwrite ``..._API_SECRET`` from the environment, and the environment must win.
    """
    out = dict(file)
    for key, value in env.items():
        forms = _secret_forms(key)
        if forms is not None:
            for form in forms:
                out.pop(form, None)
        elif isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _without_overridden(out[key], value)
    return out


class _FileUnderEnvironment(PydanticBaseSettingsSource):
    """The file's values (given as init values), minus the secrets the environment overrides."""

    def __init__(
        self,
        settings_cls: type[BaseSettings],
        file: PydanticBaseSettingsSource,
        env: PydanticBaseSettingsSource,
    ) -> None:
        super().__init__(settings_cls)
        self._file = file
        self._env = env

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # unused: __call__ gives the whole dict

    def __call__(self) -> dict[str, Any]:
        return _without_overridden(self._file(), self._env())


class Settings(BaseSettings):
    """The whole configuration, validated."""

    model_config = SettingsConfigDict(
        env_prefix="LAPOR_BRIDGE_", env_nested_delimiter="__", extra="forbid", allow_inf_nan=False
    )

    bridge: BridgeSection = Field(default_factory=BridgeSection)
    lapor: LaporSection
    sources: dict[str, SourceSection] = Field(default_factory=dict)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # the environment overrides the file, which arrives as init values
        return env_settings, _FileUnderEnvironment(settings_cls, init_settings, env_settings)

    def tracking_budget(self, account: str) -> int:
        """Requests an hour ``account`` may spend following its complaints by id: its own
        ``tracking_requests_per_hour``, else ``[lapor]``'s, else the deprecated per-pass
        ``poll_budget`` spread over an hour of passes, else :data:`TRACKING_PER_HOUR`."""
        section = self.lapor.accounts.get(account)
        if section is not None and section.tracking_requests_per_hour is not None:
            return section.tracking_requests_per_hour
        if self.lapor.tracking_requests_per_hour is not None:
            return self.lapor.tracking_requests_per_hour
        if self.lapor.poll_budget is not None:
            per_hour = self.lapor.poll_budget * 3600 / self.bridge.poll_interval_seconds
            return max(TRACKING_MIN, int(per_hour))
        return TRACKING_PER_HOUR

    def tracking(self) -> Tracking:
        """How complaints are followed by id: :meth:`tracking_budget` of every account
        and ``tracking_max_view_age_hours``."""
        return Tracking(
            budgets={name: self.tracking_budget(name) for name in self.lapor.accounts},
            default_budget=self.tracking_budget(""),
            max_view_age=timedelta(hours=self.lapor.tracking_max_view_age_hours),
        )

    @model_validator(mode="after")
    def _cross_references(self) -> Settings:
        for name, source in self.sources.items():
            if not SOURCE_NAME.match(name):
                raise _KeyError(f"sources.{name}", "a source name is [a-z0-9-]{1,24}")
            if source.account not in self.lapor.accounts:
                raise _KeyError(
                    f"sources.{name}.account", f"no [lapor.accounts.{source.account}] section"
                )
            _check_categories(name, source, self.lapor)
            # an adapter's own keys reach its model untyped from here; a float among them
            # is refused like every declared one (allow_inf_nan)
            for key, value in (source.model_extra or {}).items():
                if isinstance(value, float) and not math.isfinite(value):
                    raise _KeyError(f"sources.{name}.{key}", "Input should be a finite number")
        for name, account in self.lapor.accounts.items():
            if account.home_source is not None and account.home_source not in self.sources:
                raise _KeyError(
                    f"lapor.accounts.{name}.home_source",
                    f"no [sources.{account.home_source}] section",
                )
        for key, section, url, allowed in _urls(self):
            if plain_http_to_remote(url) and not allowed:
                raise _KeyError(
                    key,
                    "plain http:// to a host that is not loopback sends credentials and"
                    " citizens' data unencrypted: use https://, or set"
                    f" allow_insecure_http = true in [{section}]",
                )
        return self


def _is_loopback(host: str) -> bool:
    if host.rstrip(".").lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def plain_http_to_remote(url: str) -> bool:
    """Whether ``url`` is ``http://`` to a host other than 127.0.0.0/8, ::1 or localhost."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
    except ValueError:  # e.g. an unclosed [IPv6 bracket: not loopback either
        return url.lower().startswith("http://")
    return parts.scheme.lower() == "http" and not _is_loopback(host)


def _urls(conf: Settings) -> list[tuple[str, str, str, bool]]:
    """``(key, section, url, allow_insecure_http)`` of every URL the bridge sends credentials to."""
    found = [("lapor.base_url", "lapor", conf.lapor.base_url, conf.lapor.allow_insecure_http)]
    for name, source in conf.sources.items():
        for key, url in source.urls().items():
            found.append(
                (f"sources.{name}.{key}", f"sources.{name}", url, source.allow_insecure_http)
            )
    return found


def config_warnings(conf: Settings) -> list[str]:
    """What is allowed but unsafe, worded for the operator; never a secret's value.

    ``config check`` prints these and ``run`` logs them at start: plain ``http://``
    allowed by ``allow_insecure_http``, ``http_listen`` off loopback (anyone who reaches
    the port reads /metrics), a ``<secret>_file`` that group or others may read, and a
    deprecated key still in use.
    """
    out = [
        f"{key}: plain http:// to a host that is not loopback (allowed by"
        f" allow_insecure_http in [{section}]): credentials and citizens' data cross the"
        " network unencrypted"
        for key, section, url, allowed in _urls(conf)
        if allowed and plain_http_to_remote(url)
    ]
    if conf.bridge.http_listen:
        address, _ = parse_listen(conf.bridge.http_listen)
        if not ipaddress.ip_address(address).is_loopback:
            out.append(
                f"bridge.http_listen: {conf.bridge.http_listen} is not a loopback address:"
                " /healthz and /metrics answer anyone who reaches that port"
            )
    if conf.lapor.poll_budget is not None:
        if conf.lapor.tracking_requests_per_hour is not None:
            out.append(
                "lapor.poll_budget: deprecated and ignored: lapor.tracking_requests_per_hour is set"
            )
        else:
            out.append(
                f"lapor.poll_budget: deprecated (it was requests a pass); read as"
                f" {conf.tracking_budget('')} requests an hour (poll_budget × 3600 /"
                " poll_interval_seconds): set lapor.tracking_requests_per_hour instead"
            )
    sections: list[tuple[str, _Section]] = [("bridge", conf.bridge), ("lapor", conf.lapor)]
    sections += [(f"lapor.accounts.{n}", a) for n, a in conf.lapor.accounts.items()]
    sections += [(f"sources.{n}", s) for n, s in conf.sources.items()]
    for prefix, section in sections:
        out.extend(
            f"{prefix}.{key}: the file is readable by group or others;"
            " make it readable by the bridge's user alone (chmod 600)"
            for key in section.loose_secret_files()
        )
    return out


def _check_categories(name: str, source: SourceSection, lapor: LaporSection) -> None:
    """bridge.md: ids always; name paths only with ``categories``, and ``"*"`` required
    without it (nothing else could give an unmapped category an id)."""
    key = f"sources.{name}.categories"
    named = sorted(k for k, v in source.categories.items() if isinstance(v, str))
    if named and not lapor.has("categories"):
        raise _KeyError(
            f"{key}.{named[0]}",
            "a LAPOR category name needs the 'categories' capability; give the category id"
            " (an integer from LAPOR's admin screens)",
        )
    if not lapor.has("categories") and "*" not in source.categories:
        raise _KeyError(
            key,
            'give "*" = <id>: the LAPOR category id for every app category not mapped'
            " (without the 'categories' capability nothing can name one)",
        )
    for local, value in source.categories.items():
        if isinstance(value, int) and value <= 0:
            raise _KeyError(f"{key}.{local}", "a LAPOR category id is a positive integer")


class _KeyError(ValueError):
    def __init__(self, key: str, problem: str) -> None:
        super().__init__(problem)
        self.key = key
        self.problem = problem


def config_path(explicit: Path | None) -> Path:
    if explicit is not None:
        return explicit
    from_env = os.environ.get(ENV_PATH)
    return Path(from_env) if from_env else DEFAULT_PATH


def load_settings(path: Path | None = None) -> Settings:
    """Read, merge and validate the configuration; raise :class:`ConfigError`."""
    given = path is not None or bool(os.environ.get(ENV_PATH))
    path = config_path(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        hint = "" if given else f" (give --config PATH or set {ENV_PATH})"
        raise ConfigError("", f"configuration file {path} not found{hint}") from None
    except OSError as exc:
        raise ConfigError("", f"cannot read configuration file {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError("", f"{path} is not valid TOML: {exc}") from None
    folder = _credentials_folder.set(path.absolute().parent / "credentials")
    try:
        return Settings(**raw)
    except ValidationError as exc:
        raise _config_error(exc) from None
    except _KeyError as exc:
        raise ConfigError(exc.key, exc.problem) from None
    finally:
        _credentials_folder.reset(folder)


def _config_error(exc: ValidationError, prefix: str = "") -> ConfigError:
    error = exc.errors(include_url=False, include_input=False)[0]
    cause = error.get("ctx", {}).get("error")
    if isinstance(cause, _KeyError):
        return ConfigError(cause.key, cause.problem)
    key = ".".join(str(part) for part in (prefix, *error["loc"]) if part != "")
    message = str(cause) if isinstance(cause, ValueError) else error["msg"]
    return ConfigError(key, message.removeprefix("Value error, "))


M = TypeVar("M", bound=BaseModel)
#: a source's keys that only the LAPOR side (or this module) reads: not the adapter's
#: keys of a source section for LAPOR's side or the engine, not for the app's adapter
_LAPOR_SIDE = {
    "kind",
    "channel",
    "classification_id",
    "send_reporter",
    "allow_insecure_http",
    "max_in_flight",
}


def adapter_config(model: type[M], name: str, section: SourceSection) -> M:
    """Validate a source section with its adapter's model (which may add keys)."""
    data = {**section.model_dump(exclude=_LAPOR_SIDE), **(section.model_extra or {})}
    # the app's own category names map to LAPOR topic names (its built-in map overridden);
    # ids and "*" are for LAPOR alone (adapters.lapor)
    data["categories"] = {k: v for k, v in section.categories.items() if isinstance(v, str)}
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise _config_error(exc, f"sources.{name}") from None
    except ValueError as exc:
        raise ConfigError(f"sources.{name}", str(exc)) from None
