"""Which adapter serves which ``kind``; the only place that knows every app.

Adding a city app: write ``adapters/local/<app>/`` (config model, client,
normalizer, sandbox) and add one line to :data:`KINDS`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from adapters.lapor import client as lapor
from adapters.lapor import vocabulary as lapor_vocabulary
from adapters.local.open311 import client as open311
from adapters.local.open311 import normalize as open311_names
from adapters.local.sambat import client as sambat
from adapters.local.sambat import normalize as sambat_names
from adapters.local.tanjak import client as tanjak
from adapters.local.tanjak import normalize as tanjak_names
from adapters.local.ujar import client as ujar
from adapters.local.ujar import normalize as ujar_names
from bridge.core.ports import LocalSource, National
from bridge.runtime.http import RetryPolicy
from bridge.runtime.settings import ConfigError, Settings, SourceSection, adapter_config


@dataclass(frozen=True)
class Kind:
    config: type[BaseModel]
    connect: Callable[[str, BaseModel, RetryPolicy | None], LocalSource]
    #: the app's raw statuses (as the report's ``local_status`` holds them) as people read them
    status_names: Mapping[str, str]


def _tanjak(name: str, config: BaseModel, policy: RetryPolicy | None) -> LocalSource:
    assert isinstance(config, tanjak.TanjakConfig)
    return tanjak.connect(name, config, policy=policy)


def _sambat(name: str, config: BaseModel, policy: RetryPolicy | None) -> LocalSource:
    assert isinstance(config, sambat.SambatConfig)
    return sambat.connect(name, config, policy=policy)


def _ujar(name: str, config: BaseModel, policy: RetryPolicy | None) -> LocalSource:
    assert isinstance(config, ujar.UjarConfig)
    return ujar.connect(name, config, policy=policy)


def _open311(name: str, config: BaseModel, policy: RetryPolicy | None) -> LocalSource:
    assert isinstance(config, open311.Open311Config)
    return open311.connect(name, config, policy=policy)


KINDS: dict[str, Kind] = {
    "tanjak": Kind(tanjak.TanjakConfig, _tanjak, tanjak_names.STATUS_NAMES),
    "open311": Kind(open311.Open311Config, _open311, open311_names.STATUS_NAMES),
    "sambat": Kind(sambat.SambatConfig, _sambat, sambat_names.STATUS_NAMES),
    "ujar": Kind(ujar.UjarConfig, _ujar, ujar_names.STATUS_NAMES),
}


def status_names(settings: Settings) -> dict[str, Mapping[str, str]]:
    """Each configured source's raw statuses as people read them, for the HTML report."""
    return {
        name: KINDS[section.kind].status_names
        for name, section in settings.sources.items()
        if section.kind in KINDS
    }


def national_status_names() -> Mapping[int, str]:
    """LAPOR's status codes as people read them, for the HTML report."""
    return lapor_vocabulary.STATUS_NAMES


def source_config(name: str, section: SourceSection) -> tuple[Kind, BaseModel]:
    kind = KINDS.get(section.kind)
    if kind is None:
        known = ", ".join(sorted(KINDS))
        raise ConfigError(f"sources.{name}.kind", f"unknown kind {section.kind!r} ({known})")
    return kind, adapter_config(kind.config, name, section)


def validate(settings: Settings) -> None:
    """Check every source section with its adapter's model; raises ``ConfigError``."""
    for name, section in settings.sources.items():
        source_config(name, section)


def connect_sources(
    settings: Settings, only: Iterable[str] | None = None, policy: RetryPolicy | None = None
) -> dict[str, LocalSource]:
    names = list(only) if only is not None else list(settings.sources)
    out: dict[str, LocalSource] = {}
    for name in names:
        section = settings.sources.get(name)
        if section is None:
            raise ConfigError("--source", f"no [sources.{name}] section in the configuration")
        kind, config = source_config(name, section)
        out[name] = kind.connect(name, config, policy)
    return out


def connect_nationals(settings: Settings, policy: RetryPolicy | None = None) -> dict[str, National]:
    config = lapor.LaporConfig.model_validate(settings.lapor.model_dump())
    accounts = {
        name: lapor.AccountConfig.model_validate(account.model_dump())
        for name, account in settings.lapor.accounts.items()
    }
    routes = {
        name: lapor.Route(
            location_id=section.location_id,
            classification_id=section.classification_id,
            channel=section.channel,
            categories=dict(section.categories),
            send_reporter=section.send_reporter,
        )
        for name, section in settings.sources.items()
    }
    return dict(lapor.connect(config, accounts, routes=routes, policy=policy))


def homes(settings: Settings) -> dict[str, str | None]:
    """Each account's home source, where its inbox complaints are created."""
    return {name: account.home_source for name, account in settings.lapor.accounts.items()}


def engine_options(settings: Settings) -> dict[str, Any]:
    """What an :class:`bridge.sync.engine.Engine` takes from the configuration."""
    return {
        "homes": homes(settings),
        "scan_limit": settings.lapor.scan_limit,
        "tracking": settings.tracking(),
        "max_in_flight": {
            **{f"lapor:{name}": settings.lapor.max_in_flight for name in settings.lapor.accounts},
            **{f"source:{name}": s.max_in_flight for name, s in settings.sources.items()},
        },
    }


def close_all(sources: Mapping[str, LocalSource], nationals: Mapping[str, National]) -> None:
    for source in sources.values():
        source.close()
    for national in nationals.values():
        national.close()
