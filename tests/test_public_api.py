"""The public surface stays small, sorted and honest."""

from __future__ import annotations

import inspect

import mongo_ai_logs
from mongo_ai_logs import errors


def test_all_is_sorted_and_names_only_what_exists() -> None:
    names = mongo_ai_logs.__all__

    assert list(names) == sorted(names)
    for name in names:
        assert hasattr(mongo_ai_logs, name), name


def test_every_public_class_and_function_is_exported_and_documented() -> None:
    public = {
        name
        for name, value in vars(mongo_ai_logs).items()
        if not name.startswith("_")
        and (inspect.isclass(value) or inspect.isfunction(value))
    }

    assert public <= set(mongo_ai_logs.__all__)
    for name in public:
        assert inspect.getdoc(getattr(mongo_ai_logs, name)), name


def test_version_comes_from_the_installed_metadata() -> None:
    assert mongo_ai_logs.__version__ != "0+unknown"


def test_every_error_derives_from_the_one_root() -> None:
    classes = [
        v
        for v in vars(errors).values()
        if inspect.isclass(v) and issubclass(v, Exception)
    ]

    assert len(classes) == len(errors.__all__)
    for cls in classes:
        assert issubclass(cls, errors.MongoAILogsError)
        assert cls.__name__ in (errors.__doc__ or ""), cls.__name__
