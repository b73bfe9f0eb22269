"""RLlib 2018 config names, accepted as documented aliases of today's keys.

rlcore rebuilds the 2018 RLlib design, so experiment files and configs of that era (ray 0.4 to
0.6) should run unchanged. A :class:`~rlcore.config_schema.Schema` carries ``aliases``: the 2018
name of a key -> an :class:`Alias` saying what it is today::

    Schema(fields, aliases={"sgd_batchsize": Alias("sgd_minibatch_size")})

:func:`translate_config` rewrites a config (every boundary a config enters calls it: the
trainer, ``rlcore train --config`` through it, experiment files per spec) before it is merged and
validated:

* **renamed** (``Alias("today's_key")``): the value moves to today's key, optionally translated
  (``use_pytorch: true`` -> ``framework: torch``), or folded with the other 2018 keys of one
  feature (DQN's ``exploration_fraction`` x ``schedule_max_timesteps`` -> ``exploration_timesteps``);
  today's key may sit under ``model`` (``"model.vf_share_layers"``). One
  :class:`RLlib2018Warning` line per key per process says so.
* a 2018 **value form** of a key with the same name (``model.framestack: true`` meant 4 frames):
  translated, one warning line.
* **expanded** (``Alias(None, note, expand=expand_keys([...]))``): a 2018 mapping of settings that
  are *several* top-level keys today (a 2018 ``optimizer: {a: 1, b: 2}`` -> ``a: 1``, ``b: 2``);
  each value is checked against today's key, unknown settings are refused naming the allowed
  ones. One warning line.
* **no counterpart** (``Alias(None, note)``): a :class:`~rlcore.errors.ConfigError` says that the
  feature does not exist in rlcore and what to do, unless the value asks for what rlcore always
  does (``sample_async: false``): accepted with a warning line saying it has no effect.

A value of the wrong type under a 2018 name is refused naming both names; both names given with
different values is refused naming both; an unknown key whose nearest name is a 2018 one is
refused with that hint. ``{"grid_search": [...]}`` under a 2018 key is translated value by value.
:func:`aliases_markdown` renders the README's tables from the declarations.
"""

from __future__ import annotations

import functools
import math
import numbers
import warnings
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from rlcore.errors import nearest

if TYPE_CHECKING:
    from rlcore.config_schema import Schema


class RLlib2018Warning(UserWarning):
    """A config key given under its RLlib 2018 name (or in its 2018 value form) that was
    translated, or accepted as having no effect. Shown once per key per process."""


#: The :class:`RLlib2018Warning` lines said in this process. A set of rlcore's own: Python's
#: once-per-location registry is cleared whenever a warnings filter changes (importing torch or
#: TensorFlow does), which said a key's line again for the next trainer.
_SAID: set[str] = set()


def warn_2018(message: str) -> None:
    """One :class:`RLlib2018Warning` line, ``rlcore:0: RLlib2018Warning: message``, once per text per
    process (subject to the warnings filters: ``PYTHONWARNINGS="ignore:RLlib 2018"`` silences them)."""
    if message in _SAID:
        return
    _SAID.add(message)
    warnings.warn_explicit(message, RLlib2018Warning, "rlcore", 0, module="rlcore")


def forget_said() -> None:
    """Say every :class:`RLlib2018Warning` line again once (the rlcore pytest plugin calls it before each test)."""
    _SAID.clear()


@dataclass(frozen=True)
class Alias:
    """What an RLlib 2018 config key is today.

    ``new``: today's key (``"model.vf_share_layers"`` for one under ``model``), or None when rlcore
    has no counterpart. ``note``: for a renamed key, what changed in the value (shown in the
    warning and the README); for no counterpart, what the 2018 key did and what to do instead.
    ``translate``: the 2018 value -> today's (None: the same value), after ``check`` (an error text
    for a 2018 value it refuses; ``allowed`` says in words what it accepts; without ``check`` the
    value is checked against today's field). ``legacy``: for a key that kept its name, which values
    are the 2018 form to translate. ``no_effect``: values of a no-counterpart key that ask for what
    rlcore always does (accepted with a warning). ``fold`` with ``together``: 2018 keys that make
    one value today (each listed key's alias has the same ``fold``); ``fold`` gets their values,
    the 2018 ``defaults`` for those not given. ``expand`` (with ``new=None``): a 2018 key whose
    value holds several of today's keys: ``expand(value)`` returns ``{today's key: value}`` (keys
    of this schema, dotted under ``model``; each value checked against today's field) or raises
    :class:`ExpandError`; :func:`expand_keys` makes one for a mapping of named settings.
    """

    new: str | None
    note: str = ""
    translate: Callable[[Any], Any] | None = None
    check: Callable[[Any], str | None] | None = None
    allowed: str = ""
    legacy: Callable[[Any], bool] | None = None
    no_effect: tuple[Any, ...] = ()
    together: tuple[str, ...] = ()
    defaults: Mapping[str, Any] = field(default_factory=dict)
    fold: Callable[[Mapping[str, Any]], Any] | None = None
    expand: Callable[[Any], Mapping[str, Any]] | None = None


class ExpandError(ValueError):
    """Raised by an :attr:`Alias.expand` callable for a 2018 value it refuses. ``why`` completes
    "config key 'K' (RLlib 2018 ...) ..." (``"has an unknown key 'x'; allowed: a, b"``); ``key``
    is the setting inside the value at fault, if one (an experiments file points at its line)."""

    def __init__(self, why: str, key: str | None = None) -> None:
        super().__init__(why)
        self.why = why
        self.key = key


@dataclass(frozen=True)
class ExpandKeys:
    """An :attr:`Alias.expand` for a 2018 mapping of settings that are top-level keys today:
    ``keys`` pairs each 2018 setting with today's key (``(old, new)``; the same name when it kept
    it). Settings not given are left out (today's defaults apply). Made by :func:`expand_keys`."""

    keys: tuple[tuple[str, str], ...]

    def __call__(self, value: Any) -> dict[str, Any]:
        """``{today's key: value}`` for the settings given. Raises :class:`ExpandError` for a value
        that is not a mapping and for a setting not in ``keys`` (naming the allowed ones)."""
        allowed = ", ".join(old for old, _ in self.keys)
        if not isinstance(value, Mapping):
            raise ExpandError(f"is not a mapping of its settings ({allowed})")
        table = dict(self.keys)
        out: dict[str, Any] = {}
        for key, setting in value.items():
            if key not in table:
                hint = nearest(str(key), list(table))
                did = f" (did you mean {hint[0]!r}?)" if hint else ""
                raise ExpandError(f"has an unknown setting {key!r}{did}; allowed: {allowed}", str(key))
            out[table[key]] = setting
        return out

    def source(self, target: str) -> str | None:
        """The 2018 setting that becomes today's key ``target``, or None."""
        return next((old for old, new in self.keys if new == target), None)

    def describe(self) -> str:
        """The settings and today's keys, for the README table: ``a`` -> `a`, ``b`` -> `c`."""
        return ", ".join(f"`{old}`" if old == new else f"`{old}` -> `{new}`" for old, new in self.keys)


def expand_keys(keys: Iterable[str] | Mapping[str, str]) -> ExpandKeys:
    """An :attr:`Alias.expand` for a 2018 mapping whose settings are top-level keys today: ``keys``
    lists the settings (each today's key of the same name) or maps each to today's key::

        "optimizer": Alias(None, "2018 nested these", expand=expand_keys(["num_shards", "sync_delay"]))
    """
    pairs = tuple(keys.items()) if isinstance(keys, Mapping) else tuple((k, k) for k in keys)
    return ExpandKeys(tuple((str(old), str(new)) for old, new in pairs))


# -- checks of 2018 values -------------------------------------------------------------------------


def is_bool(value: Any) -> str | None:
    """``check``: True or False."""
    return None if isinstance(value, bool) else "is not True or False"


def number_between(low: float, high: float) -> Callable[[Any], str | None]:
    """``check``: a finite number in ``[low, high]``."""

    def check(value: Any) -> str | None:
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            return "is not a number"
        try:
            number = float(value)
        except OverflowError:  # an int past a float (10**400)
            return "is out of range"
        if not math.isfinite(number):
            return "is not finite"
        return None if low <= number <= high else "is out of range"

    return check


def int_at_least(low: int) -> Callable[[Any], str | None]:
    """``check``: an int ``>= low`` (not a bool)."""

    def check(value: Any) -> str | None:
        if isinstance(value, bool) or not isinstance(value, numbers.Integral):
            return "is not an int"
        return None if int(value) >= low else "is out of range"

    return check


# -- translation -----------------------------------------------------------------------------------


def _dotted(path: tuple[Any, ...]) -> str:
    """``model.custom_options`` for a key path (grid_search steps and their indexes left out)."""

    def step(i: int) -> bool:  # a grid_search step: the key "grid_search" followed by an index
        return path[i] == "grid_search" and i + 1 < len(path) and isinstance(path[i + 1], int)

    keep = [p for i, p in enumerate(path) if not step(i) and not (i and step(i - 1))]
    return ".".join(str(p) for p in keep)


def _is_grid(value: Any) -> bool:
    return isinstance(value, Mapping) and set(value) == {"grid_search"} and isinstance(value["grid_search"], list)


def _values(value: Any) -> list[Any]:
    """The values a config value stands for: a grid_search's each, else itself."""
    return list(value["grid_search"]) if _is_grid(value) else [value]


def _each(value: Any, where: tuple[Any, ...], fn: Callable[[Any, tuple[Any, ...]], Any]) -> Any:
    """``fn(v, path)`` for the value, or for each value of its grid_search (kept a grid_search)."""
    if _is_grid(value):
        return {"grid_search": [fn(v, (*where, "grid_search", i)) for i, v in enumerate(value["grid_search"])]}
    return fn(value, where)


def _error(message: str, path: tuple[Any, ...]) -> Exception:
    from rlcore.config_schema import ConfigValueError

    return ConfigValueError(message, path)


def _field_of(schema: Schema, dotted: str) -> tuple[Schema, Any]:
    """The schema holding today's key ``dotted`` and its field (``model.x``: the model schema's)."""
    *parents, last = dotted.split(".")
    for parent in parents:
        sub = schema.fields[parent].schema
        assert sub is not None, f"alias target {dotted!r}: {parent!r} has no schema"
        schema = sub
    return schema, schema.fields[last]


def translate_config(
    schema: Schema,
    config: Mapping[str, Any] | None,
    *,
    owner: str = "",
    path: tuple[Any, ...] = (),
    known: Collection[str] = (),
) -> dict[str, Any]:
    """``config`` with its RLlib 2018 keys (``schema.aliases``, and those of nested schemas such as
    ``model``) under today's names, values translated; today's keys are kept as given (a shallow
    copy: nested mappings are new only where something was translated).

    Raises :class:`~rlcore.config_schema.ConfigValueError` (a :class:`~rlcore.errors.ConfigError`;
    ``path`` is the key path of the 2018 key, grid_search indexes included) for a 2018 value of the
    wrong type or range (naming the 2018 and today's name), a 2018 key and today's key (or two
    2018 keys) giving one key different values, a 2018 key with no counterpart here (unless its
    value has no effect), and an unknown key whose nearest name is a 2018 one. Unknown keys
    otherwise pass through, for :func:`rlcore.config.merge_config` to refuse with today's nearest key.
    ``known``: top-level keys that are today's keys of the algorithm though not fields of ``schema``
    (the default config of an algorithm without a schema of its own): kept as given, never read
    as 2018 names.
    """
    who = f"{owner} " if owner else ""
    if config is None:
        return {}
    if not isinstance(config, Mapping):
        raise _error(
            f"{who}config needs a mapping of config keys to values, got {type(config).__name__}: {config!r}", path
        )
    out: dict[str, Any] = {}
    #: today's key path -> (the name given for it, its value): for conflicts
    given: dict[str, tuple[str, Any]] = {}
    pending: list[tuple[str, Any, Alias]] = []
    for key, value in config.items():
        alias = schema.aliases.get(key) if isinstance(key, str) else None
        fld = schema.fields.get(key)
        if fld is None and not path and key in known:  # the algorithm's own key, outside the schema
            out[key] = value
            given[key] = (repr(_dotted((*path, key))), value)
            continue
        if fld is not None:  # today's key (a schema's own field wins over an alias of the same name)
            if alias is not None and alias.legacy is not None:
                value = _legacy(alias, key, value, (*path, key))
            if fld.schema is not None:
                value = _each(value, (*path, key), functools.partial(_nested, fld.schema, owner))
            out[key] = value
            given[key] = (repr(_dotted((*path, key))), value)
        elif alias is not None:
            pending.append((key, value, alias))
        else:
            out[key] = value
            _misplaced(schema, key, path, who)
            _hint_2018(schema, key, path, who, known if not path else ())
    folded: set[tuple[str, ...]] = set()
    for key, value, alias in pending:
        where = (*path, key)
        if alias.expand is not None:
            _expand(schema, alias, value, where, who, known if not path else (), out, given)
            continue
        if alias.new is None:
            _no_counterpart(alias, key, value, where, who)
            continue
        if alias.fold is not None:
            group = tuple(sorted(alias.together))
            if group in folded:
                continue
            folded.add(group)
            new_value = _fold(schema, alias, config, path, who)
            names = [_dotted((*path, k)) for k in alias.together if k in config]
            where = (*path, next(k for k in alias.together if k in config))
        else:
            name = _dotted(where)
            new_value = _each(value, where, functools.partial(_renamed_value, schema, alias, name, who))
            names = [name]
        note = f": {alias.note}" if alias.note else ""
        shown = " and ".join(repr(n) for n in names)
        keys = "key" if len(names) == 1 else "keys"
        are = "is" if len(names) == 1 else "are"
        warn_2018(f"RLlib 2018 config {keys} {shown} {are} now {_dotted((*path, alias.new))!r} (translated{note})")
        _put(out, given, alias.new, new_value, shown, path, who, where)
    return out


def refuse_grid_search(config: Mapping[str, Any] | None, *, owner: str = "", path: tuple[Any, ...] = ()) -> None:
    """Refuse a ``{"grid_search": [...]}`` value anywhere in a config handed to one trainer (today's
    or a 2018 key, under ``model`` too): a grid runs one trial per value through Ray Tune, which only
    an experiments file does. ``env_config`` is the env's and left alone.

    Raises :class:`~rlcore.config_schema.ConfigValueError` naming the key as given."""
    if not isinstance(config, Mapping):
        return
    for key, value in config.items():
        where = (*path, key)
        if _is_grid(value):
            who = f"{owner} " if owner else ""
            raise _error(
                f"{who}config key {'.'.join(map(str, where))!r} is a grid_search ({value!r}): a grid_search runs "
                "one trial per value through Ray Tune, in an experiments file (rlcore train -f); a trainer takes "
                "one value",
                where,
            )
        if isinstance(value, Mapping) and key != "env_config":
            refuse_grid_search(value, owner=owner, path=where)


def _nested(schema: Schema, owner: str, value: Any, path: tuple[Any, ...]) -> Any:
    return translate_config(schema, value, owner=owner, path=path) if isinstance(value, Mapping) else value


def _legacy(alias: Alias, key: str, value: Any, where: tuple[Any, ...]) -> Any:
    """A key that kept its name, with its 2018 value form translated (``framestack: true`` -> 4)."""
    assert alias.legacy is not None and alias.translate is not None

    def one(v: Any, _p: tuple[Any, ...]) -> Any:
        if not alias.legacy(v):  # type: ignore[misc]
            return v
        warn_2018(f"RLlib 2018 value of config key {_dotted(where)!r} translated: {alias.note}")
        return alias.translate(v)  # type: ignore[misc]

    return _each(value, where, one)


def _renamed_value(schema: Schema, alias: Alias, name: str, who: str, value: Any, where: tuple[Any, ...]) -> Any:
    """One 2018 value (``name``; at key path ``where``) checked (by the alias's check, else today's
    field) and translated."""
    assert alias.new is not None
    new = alias.new
    if alias.check is not None:
        why = alias.check(value)
        if why is not None:
            raise _error(
                f"{who}config key {name!r} (RLlib 2018 name of {new!r}) {why}: got {_short(value)}; "
                f"allowed: {alias.allowed}",
                where,
            )
    out = alias.translate(value) if alias.translate is not None else value
    _, fld = _field_of(schema, new)
    why = fld.error(out)
    if why is not None:
        shown = _short(value) if out is value or out == value else f"{_short(value)} ({new} {_short(out)})"
        raise _error(
            f"{who}config key {name!r} (RLlib 2018 name of {new!r}) {why}: got {shown}; "
            f"allowed: {fld.allowed(new.rsplit('.', 1)[-1])} ({fld.doc})",
            where,
        )
    return out


def _fold(schema: Schema, alias: Alias, config: Mapping[str, Any], path: tuple[Any, ...], who: str) -> Any:
    """The value of today's key made from several 2018 keys (their 2018 defaults for those not given)."""
    assert alias.fold is not None and alias.new is not None
    values = dict(alias.defaults)
    for k in alias.together:
        if k not in config:
            continue
        v, where = config[k], (*path, k)
        if _is_grid(v):
            raise _error(
                f"{who}config key {_dotted(where)!r} (RLlib 2018, folded into {alias.new!r} with "
                f"{', '.join(repr(o) for o in alias.together if o != k)}) cannot take a grid_search: "
                f"put the grid_search on {alias.new!r} ({alias.note})",
                where,
            )
        check = schema.aliases[k].check
        why = check(v) if check is not None else None
        if why is not None:
            raise _error(
                f"{who}config key {_dotted(where)!r} (RLlib 2018, folded into {alias.new!r}) {why}: got {_short(v)}; "
                f"allowed: {schema.aliases[k].allowed}",
                where,
            )
        values[k] = v
    try:
        return alias.fold(values)
    except ArithmeticError as exc:  # 10**400 x 0.1: past a float
        given = ", ".join(f"{k} {_short(values[k])}" for k in alias.together)
        raise _error(
            f"{who}config keys {' and '.join(repr(k) for k in alias.together)} (RLlib 2018, folded into "
            f"{alias.new!r}) make no {alias.new} ({type(exc).__name__}: {exc}): got {given}; give "
            f"{alias.new!r} instead ({alias.note})",
            (*path, next(k for k in alias.together if k in config)),
        ) from None


def _expand(
    schema: Schema,
    alias: Alias,
    value: Any,
    where: tuple[Any, ...],
    who: str,
    known: Collection[str],
    out: dict[str, Any],
    given: dict[str, tuple[str, Any]],
) -> None:
    """Put the settings of a 2018 key that holds several of today's keys (:attr:`Alias.expand`)
    under today's keys, each checked against its field; refuse a second, different value for one."""
    assert alias.expand is not None
    name = _dotted(where)
    path = where[:-1]
    about = "(RLlib 2018: its settings are today's keys)"
    if _is_grid(value):
        raise _error(
            f"{who}config key {name!r} {about} cannot take a grid_search: put the grid_search on a setting "
            f"inside it ({where[-1]}: {{setting: {{grid_search: [...]}}}}) or on today's key",
            where,
        )
    if alias.check is not None:
        why = alias.check(value)
        if why is not None:
            raise _error(
                f"{who}config key {name!r} {about} {why}: got {_short(value)}; allowed: {alias.allowed}", where
            )
    try:
        expanded = dict(alias.expand(value))
    except ExpandError as exc:
        at = where if exc.key is None else (*where, exc.key)
        got = f": got {_short(value)}" if exc.key is None else ""
        allowed = f"; allowed: {alias.allowed}" if alias.allowed and "allowed:" not in exc.why else ""
        raise _error(f"{who}config key {name!r} {about} {exc.why}{got}{allowed}", at) from None
    targets = []
    for target, setting in expanded.items():
        source = alias.expand.source(target) if isinstance(alias.expand, ExpandKeys) else None
        if source is None and isinstance(value, Mapping) and target.rsplit(".", 1)[-1] in value:
            source = target.rsplit(".", 1)[-1]
        at = where if source is None else (*where, source)
        shown = repr(_dotted(at))
        full = _dotted((*path, target))
        top = target.split(".")[0]
        if top in schema.fields:
            _, fld = _field_of(schema, target)
            for i, v in enumerate(_values(setting)):
                why = fld.error(v)
                if why is not None:
                    grid = (*at, "grid_search", i) if _is_grid(setting) else at
                    raise _error(
                        f"{who}config key {shown} (RLlib 2018 name of {full!r}) {why}: got {_short(v)}; "
                        f"allowed: {fld.allowed(target.rsplit('.', 1)[-1])} ({fld.doc})",
                        grid,
                    )
        elif top not in known:
            raise _error(
                f"{who}config key {name!r}: its RLlib 2018 alias makes the setting {shown} today's key {full!r}, "
                f"which is not a config key of {who.strip() or 'this algorithm'} (a bug in the alias declaration: "
                "tell the plugin's authors); give today's keys instead",
                at,
            )
        _put(out, given, target, setting, shown, path, who, at)
        targets.append(repr(full))
    note = f": {alias.note}" if alias.note else ""
    if targets:
        keys = "key" if len(targets) == 1 else "keys"
        warn_2018(f"RLlib 2018 config key {name!r} is now the {keys} {' and '.join(targets)} (translated{note})")
    else:
        warn_2018(f"RLlib 2018 config key {name!r} is empty: nothing to translate{note}")


def _short(value: Any) -> str:
    """``repr(value)``, cut to 80 characters (``...``) for a message."""
    text = repr(value)
    return text if len(text) <= 80 else f"{text[:77]}..."


def _put(
    out: dict[str, Any],
    given: dict[str, tuple[str, Any]],
    target: str,
    value: Any,
    name: str,
    path: tuple[Any, ...],
    who: str,
    where: tuple[Any, ...],
) -> None:
    """Set today's key ``target`` (dotted: under ``model``) to ``value`` given as ``name`` (the 2018
    key at ``where``); refuse a second, different value for it."""
    full = _dotted((*path, target))
    if target in given:
        other, other_value = given[target]
        if other_value != value:
            raise _error(
                f"{who}config keys {name} (RLlib 2018 name of {full!r}) and {other} are both given, with "
                f"different values: {value!r} and {other_value!r}; give it once, as {full!r}",
                where,
            )
        return
    given[target] = (name, value)
    *parents, last = target.split(".")
    node = out
    for parent in parents:
        sub = node.get(parent, {})
        if not isinstance(sub, Mapping) or _is_grid(sub):
            raise _error(
                f"{who}config key {name} (RLlib 2018 name of {full!r}) cannot go into "
                f"{_dotted((*path, parent))!r}, which is not a plain mapping here: set {last!r} inside it",
                where,
            )
        node[parent] = dict(sub)
        node = node[parent]
    if last in node:
        if node[last] != value:
            raise _error(
                f"{who}config keys {name} (RLlib 2018 name of {full!r}) and {full!r} are both given, with "
                f"different values: {value!r} and {node[last]!r}; give it once, as {full!r}",
                where,
            )
        return
    node[last] = value


def _no_counterpart(alias: Alias, key: str, value: Any, where: tuple[Any, ...], who: str) -> None:
    """Accept (with a warning) a no-counterpart key whose every value has no effect; else refuse it."""
    name = _dotted(where)
    if alias.no_effect and all(_same(v, alias.no_effect) for v in _values(value)):
        warn_2018(
            f"RLlib 2018 config key {name!r} has no effect in rlcore (accepted: its value is what rlcore "
            f"always does): {alias.note}"
        )
        return
    accepted = ""
    if alias.no_effect:
        accepted = f" (only {' or '.join(repr(v) for v in alias.no_effect)}, which has no effect here, is accepted)"
    raise _error(
        f"{who}config key {name!r} is an RLlib 2018 key whose feature rlcore does not have: got {value!r}{accepted}. "
        f"{alias.note}",
        where,
    )


def _same(value: Any, choices: tuple[Any, ...]) -> bool:
    """``value`` is one of ``choices`` (a bool equals only a bool, 1 is not True)."""
    return any((type(value) is type(c) and value == c) or (_num(value) and _num(c) and value == c) for c in choices)


def _num(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _misplaced(schema: Schema, key: Any, path: tuple[Any, ...], who: str) -> None:
    """Refuse, saying where it belongs, an unknown key that is a Ray Tune experiment key (``stop``,
    ``trial_resources``, ...: the experiment's, not the algorithm's), a model key at the top level
    (``lstm_cell_size``: under ``model``) or a ``grid_search`` over a whole config (Tune grids
    values of keys)."""
    if key == "grid_search" and path:
        raise _error(
            f"{who}config key {_dotted((*path, key))!r}: a grid_search must be the only key of its mapping and hold "
            "a list of values ({grid_search: [v1, v2]})",
            (*path, key),
        )
    if key == "grid_search":
        raise _error(
            f"{who}config is a grid_search as a whole: a grid_search goes on the value of each key that varies "
            "(config: {lr: {grid_search: [0.01, 0.001]}}), and only in an experiments file (rlcore train -f)",
            (key,),
        )
    model = schema.fields.get("model")
    nested = model.schema if model is not None else None
    if not path and isinstance(key, str) and nested is not None and (key in nested.fields or key in nested.aliases):
        raise _error(  # lstm_cell_size, fcnet_hiddens... at the top level: RLlib's model keys go under model
            f"{who}config key {key!r} is a model config key: give it under model (config: {{model: {{{key}: ...}}}}; "
            f"in Python {{'model': {{{key!r}: ...}}}})",
            (key,),
        )
    from rlcore.experiments import EXPERIMENT_KEYS, TUNE_2018_KEYS, TUNE_2018_UNSUPPORTED

    tune_keys = {*EXPERIMENT_KEYS, *TUNE_2018_KEYS, *TUNE_2018_UNSUPPORTED}
    if path or key not in tune_keys or key in schema.fields:
        return
    raise _error(
        f"{who}config key {key!r} is a Ray Tune experiment key, not an algorithm setting: in an experiments file "
        f"(rlcore train -f) give it beside `config:`, not inside it (rlcore train has --stop, --checkpoint-freq, "
        "--restore and --local-dir for some of them)",
        (key,),
    )


def _hint_2018(schema: Schema, key: Any, path: tuple[Any, ...], who: str, known: Collection[str] = ()) -> None:
    """Refuse an unknown key whose nearest name is a 2018 alias (naming it and today's key); an
    unknown key nearer to one of today's keys (``known`` ones included) is left to the merge."""
    if not isinstance(key, str):
        return
    renamed = {
        old: a.new for old, a in schema.aliases.items() if a.new is not None and old not in {*schema.fields, *known}
    }
    hits = nearest(key, [*schema.fields, *known, *renamed])
    if not hits or hits[0] not in renamed:
        return
    full = _dotted((*path, key))
    under = f" under {_dotted(path)!r}" if path else ""
    raise _error(
        f"{who}unknown config key {full!r}. Did you mean {hits[0]!r} (RLlib 2018 name of "
        f"{_dotted((*path, renamed[hits[0]]))!r})? Valid keys{under}: {', '.join(sorted(map(str, schema.fields)))}.",
        (*path, key),
    )


# -- the common and model keys of RLlib 2018 (agent.py COMMON_CONFIG, models/catalog.py MODEL_DEFAULTS) --

#: ray 0.6's default ``callbacks``: every hook None.
_NO_CALLBACKS_06 = {"on_episode_start": None, "on_episode_step": None, "on_episode_end": None, "on_sample_end": None}
_TF_SESSION = "rlcore sets the framework's threads itself; use num_cpu_threads (intra-op threads) and remove it"

#: RLlib 2018 names of keys every algorithm has (ray 0.4 ... 0.6 ``agent.py`` COMMON_CONFIG and the
#: per-algorithm keys that became common), for :data:`rlcore.config_schema.COMMON_SCHEMA`.
COMMON_ALIASES: dict[str, Alias] = {
    "sample_batch_size": Alias("rollout_fragment_length"),
    "smoothing_num_episodes": Alias(
        "metrics_smoothing_episodes",
        "ray 0.4 DQN/DDPG's metric window (mean of the last N episodes); rlcore's window is ray 0.6's: this "
        "iteration's episodes topped up to N with earlier ones",
    ),
    "use_pytorch": Alias(
        "framework",
        "true -> torch, false -> tf",
        translate=lambda v: "torch" if v else "tf",
        check=is_bool,
        allowed="True or False",
    ),
    "sample_async": Alias(
        None,
        "rlcore samples synchronously (no background sampler thread); remove the key",
        no_effect=(False,),
    ),
    "compress_observations": Alias(
        None,
        "rlcore keeps observations uncompressed (no LZ4: memory, not learning, differs); remove the key",
        no_effect=(False, True),
    ),
    "synchronize_filters": Alias(
        None,
        "rlcore always synchronizes the observation filters of its workers after each iteration; remove the key",
        no_effect=(True,),
    ),
    "collect_metrics_timeout": Alias(
        None,
        "rlcore waits for every worker's episode metrics (a dead worker is recreated: "
        "recreate_failed_workers, max_worker_restarts); remove the key",
        no_effect=(180,),
    ),
    "tf_session_args": Alias(None, _TF_SESSION, no_effect=({},)),
    "local_evaluator_tf_session_args": Alias(None, _TF_SESSION, no_effect=({},)),
    "gpu_fraction": Alias(
        None,
        "ray 0.5's fraction of a GPU per process; rlcore's GPUs are num_gpus (the learner) and "
        "num_gpus_per_worker (each remote worker), fractions allowed: give the fraction there",
        no_effect=(1,),
    ),
    "custom_resources_per_worker": Alias(
        None, "rlcore reserves CPUs and GPUs only (num_cpus_per_worker, num_gpus_per_worker)", no_effect=({},)
    ),
    "callbacks": Alias(
        None,
        "use an rlcore plugin with event hooks instead (rlcore_on_train_result, rlcore_on_trial_start, ...: "
        "README, Writing a logger)",
        no_effect=({}, _NO_CALLBACKS_06, {**_NO_CALLBACKS_06, "on_train_result": None, "on_postprocess_traj": None}),
    ),
    "optimizer": Alias(
        None,
        "rlcore's optimizers take their settings from the algorithm's own keys (train_batch_size, "
        "num_sgd_iter, buffer_size, ...)",
        no_effect=({},),
    ),
    "preprocessor_pref": Alias(
        None,
        "rlcore's catalog picks the preprocessor from the observation space (image: resize to model.dim, "
        "model.grayscale, model.zero_mean, model.framestack); remove the key",
    ),
    "log_level": Alias(
        None, "rlcore logs through Python's logging (and the progress display); remove the key", no_effect=("INFO",)
    ),
    "monitor": Alias(None, "rlcore does not record env videos; remove the key", no_effect=(False,)),
    "multiagent": Alias(
        None,
        "rlcore trains single-agent envs with one policy; remove the key",
        no_effect=({}, {"policy_graphs": {}, "policy_mapping_fn": None, "policies_to_train": None}),
    ),
    "input": Alias(None, "rlcore learns from its own sampling only (no offline input)", no_effect=("sampler",)),
    "input_evaluation": Alias(None, "rlcore has no offline input to evaluate", no_effect=(None, [])),
    "postprocess_inputs": Alias(None, "rlcore has no offline input", no_effect=(False,)),
    "output": Alias(
        None, "rlcore does not write sample batches out (its results folder has the metrics)", no_effect=(None,)
    ),
    "output_compress_columns": Alias(None, "rlcore does not write sample batches out"),
    "output_max_file_size": Alias(None, "rlcore does not write sample batches out"),
    "min_iter_time_s": Alias(
        None,
        "an rlcore iteration is one train batch (PPO) or timesteps_per_iteration sampled steps (DQN), not a "
        "minimum time; remove the key",
        no_effect=(0, 1),
    ),
}

#: RLlib 2018 names of ``model`` keys (ray 0.4 ... 0.6 ``models/catalog.py`` MODEL_DEFAULTS), for
#: :data:`rlcore.config_schema.MODEL_SCHEMA`.
MODEL_ALIASES: dict[str, Alias] = {
    "custom_options": Alias("custom_model_config"),
    "framestack": Alias(
        "framestack",
        "2018's true stacked 4 frames (the DeepMind Atari wrapper), false none: true -> 4, false -> 1",
        translate=lambda v: 4 if v else 1,
        legacy=lambda v: isinstance(v, bool),
    ),
    "squash_to_range": Alias(
        None,
        "rlcore clips Box actions to the space's bounds instead (clip_actions); remove the key",
        no_effect=(False,),
    ),
    "lstm_use_prev_action_reward": Alias(
        None, "rlcore's LSTM sees the observation only; remove the key", no_effect=(False,)
    ),
    "channel_major": Alias(
        None, "rlcore's vision nets take channel-last images and lay them out per framework", no_effect=(False,)
    ),
}


def translate_for_algorithm(algorithm: str | None, config: Mapping[str, Any] | None) -> dict[str, Any]:
    """``config`` translated with the schema of the registered ``algorithm`` (its 2018 names and the
    common ones; an algorithm that is not registered, or None: the common ones only, its trainer
    translates the rest). For configs merged before a trainer sees them (a checkpoint's config
    under the caller's). Raises what :func:`translate_config` raises."""
    from rlcore.config_schema import COMMON_SCHEMA
    from rlcore.errors import RLCoreError
    from rlcore.registration import get_algorithm_class

    cls: Any = None
    if algorithm:
        try:
            cls = get_algorithm_class(algorithm)
        except RLCoreError:
            cls = None
    schema = getattr(cls, "config_schema", None) or COMMON_SCHEMA
    # an algorithm that is not registered: the common 2018 names only, its keys left to its trainer
    known = getattr(cls, "default_config", None) or [k for k in (config or {}) if k not in schema.aliases]
    return translate_config(schema, config, owner=getattr(cls, "name", algorithm or ""), known=known)


# -- documentation ---------------------------------------------------------------------------------


def aliases_markdown(schema: Schema, *, prefix: str = "", exclude: Schema | None = None) -> str:
    """A Markdown table ``RLlib 2018 | today | notes`` of ``schema``'s aliases (those of its nested
    schemas too, as ``model.<key>``), without those that ``exclude`` has (another family's)."""
    lines = ["| RLlib 2018 | today | notes |", "| --- | --- | --- |"]
    for row in _alias_rows(schema, prefix, exclude):
        lines.append(row)
    return "\n".join(lines)


def _alias_rows(schema: Schema, prefix: str, exclude: Schema | None) -> list[str]:
    rows = []
    for old, alias in schema.aliases.items():
        if exclude is not None and exclude.aliases.get(old) == alias:
            continue
        if alias.expand is not None:
            settings = alias.expand.describe() if isinstance(alias.expand, ExpandKeys) else alias.allowed
            today = f"its settings are today's top-level keys ({settings})"
        elif alias.new is None:
            today = "no counterpart: an error" + (
                f"; {' or '.join(_yaml(v) for v in alias.no_effect)} accepted (no effect)" if alias.no_effect else ""
            )
        elif alias.legacy is not None:
            today = f"`{prefix}{alias.new}` (2018 value form translated)"
        else:
            today = f"`{prefix}{alias.new}`"
        rows.append(f"| `{prefix}{old}` | {today} | {alias.note} |")
    for key, fld in schema.fields.items():
        if fld.schema is not None and fld.schema.aliases:
            sub_exclude = exclude.fields[key].schema if exclude is not None and key in exclude.fields else None
            rows += _alias_rows(fld.schema, f"{prefix}{key}.", sub_exclude)
    return rows


def _yaml(value: Any) -> str:
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if value is None:
        return "`null`"
    return f"`{value!r}`"


__all__ = [
    "COMMON_ALIASES",
    "MODEL_ALIASES",
    "Alias",
    "ExpandError",
    "ExpandKeys",
    "RLlib2018Warning",
    "aliases_markdown",
    "expand_keys",
    "int_at_least",
    "is_bool",
    "number_between",
    "refuse_grid_search",
    "translate_config",
    "translate_for_algorithm",
]
