"""The machinery of the settings tree: a group of settings, its variables, and one way to read them.

A group is a frozen pydantic-settings model. Each field's environment variable is the group's
`env_prefix` plus the field name upper-cased (`CacheSettings.ttl_s` is `ATLAS_CACHE_TTL_S`), or its
`validation_alias` when the name does not follow that rule (`DATABASE_URL`); `variables()` lists them.
A group never reads `os.environ` by itself: `read_group` hands it the mapping Settings.from_env was
given, so tests and scripts build settings from exactly what they pass.
"""
from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Annotated, Any, ClassVar, TypeVar

from pydantic import BeforeValidator, ValidationError
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, EnvSettingsSource, NoDecode, PydanticBaseSettingsSource, SettingsConfigDict
from pydantic_settings.sources.utils import parse_env_vars

from app.errors.configuration import ConfigurationError


def split_commas(value: object) -> tuple[str, ...]:
    """A comma-separated variable (or a list from a test's mapping) as its non-empty, stripped items."""
    if value is None:
        return ()
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, (list, tuple, set, frozenset)):
        raise ValueError("must be a comma-separated list")
    return tuple(str(item).strip() for item in items if str(item).strip())


G = TypeVar("G", bound="Group")

# A comma-separated list: the one parse of ATLAS_TRUSTED_ORIGINS, ATLAS_CONNECTION_KEYS, ATLAS_CONNECTION_ALLOWED_HOSTS.
CommaList = Annotated[tuple[str, ...], NoDecode, BeforeValidator(split_commas)]


class Group(BaseSettings):
    """A branch of the settings tree; frozen, unknown names refused, sources: only what it is given."""

    model_config = SettingsConfigDict(frozen=True, extra="forbid", env_prefix="ATLAS_", case_sensitive=False,
                                      env_ignore_empty=True, validate_by_name=True, validate_by_alias=True,
                                      validate_default=True)
    title: ClassVar[str] = ""  # the heading of this group in docs/configuration.md

    @classmethod
    def settings_customise_sources(cls, settings_cls: type[BaseSettings],
                                   init_settings: PydanticBaseSettingsSource,
                                   env_settings: PydanticBaseSettingsSource,
                                   dotenv_settings: PydanticBaseSettingsSource,
                                   file_secret_settings: PydanticBaseSettingsSource,
                                   ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings,)  # the environment comes only through read_group, from the mapping given

    @classmethod
    def variables(cls) -> Iterator[tuple[str, str, FieldInfo]]:
        """(field name, environment variable, field) of every field, in declaration order."""
        prefix = str(cls.model_config.get("env_prefix") or "")
        for name, info in cls.model_fields.items():
            alias = info.validation_alias
            yield name, alias if isinstance(alias, str) else f"{prefix}{name.upper()}", info


class _GivenEnvironment(EnvSettingsSource):
    """pydantic-settings' environment source over a given mapping instead of os.environ."""

    def __init__(self, settings_cls: type[BaseSettings], environment: Mapping[str, str]) -> None:
        self._given = environment
        super().__init__(settings_cls)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        return parse_env_vars(self._given, self.case_sensitive, self.env_ignore_empty, self.env_parse_none_str)


def read_group(cls: type[Group], environment: Mapping[str, str]) -> dict[str, Any]:
    """The raw values of `cls`'s variables found in `environment`, keyed by field name."""
    found = _GivenEnvironment(cls, environment)()
    by_variable = {variable: name for name, variable, _ in cls.variables()}
    return {by_variable.get(key, key): value for key, value in found.items()}


def build_group(cls: type[G], values: Mapping[str, Any]) -> G:
    """`cls` from field values; ConfigurationError naming the variable of each bad value."""
    try:
        return cls(**values)
    except ValidationError as exc:
        raise ConfigurationError(describe_errors(cls, exc)) from None


def describe_errors(cls: type[Group], exc: ValidationError) -> str:
    """`ATLAS_CACHE_TTL_S: Input should be greater than 0 (got '-1')`, one per bad value, joined by '; '."""
    variable_of = {name: variable for name, variable, _ in cls.variables()}
    variable_of.update({variable: variable for variable in variable_of.values()})
    messages = []
    for error in exc.errors(include_url=False):
        field = str(error["loc"][0]) if error["loc"] else ""
        message = str(error["msg"]).removeprefix("Value error, ")
        if not field:  # a rule over several fields: its message names them
            messages.append(message)
            continue
        variable = variable_of.get(field) or f"unknown setting {field!r}"
        given = "" if error["type"] in ("extra_forbidden", "missing") or _secret(cls, field) \
            else f" (got {error['input']!r})"
        messages.append(f"{variable}: {message}{given}")
    return "; ".join(messages)


def _secret(cls: type[Group], field: str) -> bool:
    info = cls.model_fields.get(field)
    return info is not None and info.repr is False
