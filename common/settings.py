"""Settings shared by every program, read from flags and `SQ_*` environment variables.

Each program defines one pydantic-settings class (this module's StorageSettings, or a
subclass adding its own flags) and calls `parse_settings`. Flags are kebab-case
(`--visibility-timeout`); the seed's single-dash spellings (`-backend localfs -dir /x`)
are accepted too. A bad value is a one-line error and exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal, NoReturn, TypeVar

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    CliApp,
    CliSettingsSource,
    SettingsConfigDict,
    SettingsError,
)

Backend = Literal["memfs", "localfs", "s3"]
DEFAULT_DIR = Path("sq-data")


class StorageSettings(BaseSettings):
    """Where the queue's documents live."""

    model_config = SettingsConfigDict(
        env_prefix="SQ_",
        cli_kebab_case=True,
        cli_implicit_flags=True,
        cli_exit_on_error=False,
        cli_hide_none_type=True,
        cli_avoid_json=True,
        extra="ignore",
    )

    backend: Backend = Field(
        default="localfs",
        description="storage backend: memfs (in memory, lost on exit), localfs or s3",
    )
    dir: Path = Field(default=DEFAULT_DIR, description="storage directory for localfs")
    bucket: str | None = Field(default=None, description="S3 bucket (required for s3)")
    prefix: str = Field(default="", description="key prefix inside the S3 bucket")
    s3_endpoint: str | None = Field(
        default=None, description="S3 endpoint URL, for MinIO, R2 or moto"
    )
    region: str | None = Field(
        default=None, description="S3 region (default: the AWS configuration's)"
    )

    @field_validator("dir", mode="before")
    @classmethod
    def _dir_not_empty(cls, value: object) -> object:
        # Path("") would silently mean the current directory.
        if isinstance(value, str) and not value.strip():
            raise ValueError("--dir is required with --backend localfs")
        return value

    @model_validator(mode="after")
    def _backend_needs_its_location(self) -> StorageSettings:
        if self.backend == "s3" and not self.bucket:
            raise ValueError("--bucket is required with --backend s3")
        return self

    def location(self) -> str:
        """Where the data lives, for logs and headers."""
        if self.backend == "s3":
            prefix = f"/{self.prefix.strip('/')}" if self.prefix else ""
            return f"s3://{self.bucket}{prefix}"
        if self.backend == "localfs":
            return f"localfs:{self.dir.resolve()}"
        return "memfs"


S = TypeVar("S", bound=BaseSettings)


def normalize_flags(argv: Sequence[str], settings_cls: type[BaseSettings]) -> list[str]:
    """Accept the seed's `-flag` spelling for every long flag of `settings_cls`."""
    names = {name.replace("_", "-") for name in settings_cls.model_fields}
    out: list[str] = []
    for arg in argv:
        if arg == "--":
            out.extend(argv[len(out) :])
            break
        if arg.startswith("-") and not arg.startswith("--") and len(arg) > 2:
            name = arg[1:].split("=", 1)[0]
            if name in names:
                arg = "-" + arg
        out.append(arg)
    return out


# Help as a user reads it. pydantic-settings names each value by its Python type
# (`--dir Path`, `--visibility-timeout float`) and appends `(default: None)`, `(default: )`
# or `(default factory: f)` to every flag; a flag whose default needs words says it in its
# description instead.
_METAVARS = {"float": "SECONDS", "int": "N", "Path": "DIR", "endpoint": "URL", "broker": "URL"}
_NO_DEFAULT = re.compile(r" ?\((?:default: (?:None)?|default factory: [^)]*)\)")
_WHOLE_FLOAT = re.compile(r"\(default: (\d+)\.0\)")


def _add_argument(parser: argparse.ArgumentParser, *names: str, **kw: Any) -> Any:
    metavar = kw.get("metavar")
    if isinstance(metavar, str) and not metavar.startswith("{"):
        word = names[0].rsplit("-", 1)[-1]  # a text's name: --auth-token TOKEN
        kw["metavar"] = _METAVARS.get(metavar) or _METAVARS.get(word) or word.upper()
    if isinstance(kw.get("help"), str):
        kw["help"] = _WHOLE_FLOAT.sub(r"(default: \1)", _NO_DEFAULT.sub("", kw["help"]))
    return parser.add_argument(*names, **kw)


def _fail(prog: str, message: str) -> NoReturn:
    print(f"{prog}: error: {message}", file=sys.stderr)
    raise SystemExit(2)


def describe_error(error: ValidationError) -> str:
    """The first problem of a settings validation error, as one line naming the flag."""
    first = error.errors()[0]
    field = ".".join(str(part) for part in first["loc"])
    message = str(first["msg"]).removeprefix("Value error, ")
    if not field or message.startswith("--"):
        return message
    return f"--{field.replace('_', '-')}: {message}"


def parse_settings(settings_cls: type[S], argv: Sequence[str] | None = None, prog: str = "") -> S:
    """Build settings from flags (default: sys.argv[1:]) and SQ_* variables, or exit 2."""
    prog = prog or Path(sys.argv[0]).name
    args = normalize_flags(list(sys.argv[1:] if argv is None else argv), settings_cls)
    try:
        source: CliSettingsSource[object] = CliSettingsSource(
            settings_cls, cli_prog_name=prog, add_argument_method=_add_argument
        )
        return CliApp.run(settings_cls, cli_args=args, cli_settings_source=source)
    except ValidationError as exc:
        _fail(prog, describe_error(exc))
    except SettingsError as exc:
        # argparse's own message, without the wrapper's prefix: one `prog: error:` line.
        _fail(prog, str(exc).splitlines()[0].removeprefix("error parsing CLI: "))
