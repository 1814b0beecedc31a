"""Mutation operators: every small, plausible slip a programmer makes, applied to one AST node.

``mutants(path, source)`` returns one :class:`Mutant` per (node, variant): a compare operator moved
across its boundary or negated, an arithmetic operator swapped, ``and``/``or`` swapped, ``not`` or a
unary minus dropped, a number or ``Decimal`` literal shifted by one, ``True``/``False`` swapped, a
string constant altered, ``abs(x)`` replaced by ``x``, ``min``/``max`` swapped, and a ``raise`` or a
call statement deleted. Docstrings, type annotations, imports, decorators, ``__all__``,
``TYPE_CHECKING`` blocks and the messages of raised exceptions are left alone: a change there alters
no behaviour a test should pin down.

A mutant is named by its file, its line, its description and its occurrence among identical
descriptions on that line (``file:line:description#k``); the reviewed equivalent list matches on the
file, the stripped source line and the description, so it survives edits that only move lines.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterator
from dataclasses import dataclass

_CMP_NAMES = {
    ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=", ast.Eq: "==", ast.NotEq: "!=",
    ast.Is: "is", ast.IsNot: "is not", ast.In: "in", ast.NotIn: "not in",
}
# Boundary shift first (the slip that survives weak tests), then the negation.
_CMP_VARIANTS: dict[type[ast.cmpop], tuple[type[ast.cmpop], ...]] = {
    ast.Lt: (ast.LtE, ast.GtE), ast.LtE: (ast.Lt, ast.Gt), ast.Gt: (ast.GtE, ast.LtE),
    ast.GtE: (ast.Gt, ast.Lt), ast.Eq: (ast.NotEq,), ast.NotEq: (ast.Eq,), ast.Is: (ast.IsNot,),
    ast.IsNot: (ast.Is,), ast.In: (ast.NotIn,), ast.NotIn: (ast.In,),
}
_BIN_NAMES = {
    ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.FloorDiv: "//", ast.Mod: "%",
    ast.Pow: "**",
}
_BIN_VARIANTS: dict[type[ast.operator], type[ast.operator]] = {
    ast.Add: ast.Sub, ast.Sub: ast.Add, ast.Mult: ast.Div, ast.Div: ast.Mult,
    ast.FloorDiv: ast.Div, ast.Mod: ast.Div, ast.Pow: ast.Mult,
}


@dataclass(frozen=True)
class Mutant:
    """One mutation of one file: where it is, what it changes, and the mutated source."""

    path: str  # relative to the repository root, with forward slashes
    line: int
    end_line: int
    occurrence: int
    description: str
    code: str  # the original source line, stripped
    source: str  # the whole mutated module

    @property
    def ident(self) -> str:
        """A stable name: ``path:line:description#occurrence``."""
        return f"{self.path}:{self.line}:{self.description}#{self.occurrence}"


@dataclass
class _Point:
    line: int
    end_line: int
    description: str
    apply: Callable[[], None]
    revert: Callable[[], None]


def _is_docstring(node: ast.AST, parent: ast.AST | None) -> bool:
    if not isinstance(node, ast.Expr) or not isinstance(node.value, ast.Constant):
        return False
    if not isinstance(node.value.value, str):
        return False
    body = getattr(parent, "body", None)
    return isinstance(body, list) and bool(body) and body[0] is node


def _is_type_checking(node: ast.AST) -> bool:
    if not isinstance(node, ast.If):
        return False
    t = node.test
    return (isinstance(t, ast.Name) and t.id == "TYPE_CHECKING") or (
        isinstance(t, ast.Attribute) and t.attr == "TYPE_CHECKING"
    )


def _is_dunder_all(node: ast.AST) -> bool:
    return isinstance(node, ast.Assign | ast.AnnAssign) and any(
        isinstance(t, ast.Name) and t.id == "__all__"
        for t in (node.targets if isinstance(node, ast.Assign) else [node.target])
    )


def _call_name(node: ast.Call) -> str | None:
    f = node.func
    if isinstance(f, ast.Name):
        return f.id
    if isinstance(f, ast.Attribute):
        return f.attr
    return None


def _set_field(parent: ast.AST, field: str, index: int | None, value: ast.AST) -> Callable[[], None]:
    def go() -> None:
        if index is None:
            setattr(parent, field, value)
        else:
            getattr(parent, field)[index] = value

    return go


class _Collector:
    """Walk a module and record every mutation point with an apply and a revert."""

    def __init__(self) -> None:
        self.points: list[_Point] = []

    def add(self, node: ast.AST, description: str, apply: Callable[[], None],
            revert: Callable[[], None]) -> None:
        line = getattr(node, "lineno", 0)
        end = getattr(node, "end_lineno", None) or line
        self.points.append(_Point(line, end, description, apply, revert))

    def visit(self, node: ast.AST, parent: ast.AST | None = None) -> None:
        if isinstance(node, ast.Import | ast.ImportFrom) or _is_type_checking(node):
            return
        if _is_docstring(node, parent) or _is_dunder_all(node):
            return
        self._mutate(node, parent)
        for field, value in ast.iter_fields(node):
            if field in {"annotation", "returns", "decorator_list", "type_comment"}:
                continue
            if isinstance(node, ast.Raise) and field in {"exc", "cause"}:
                # The exception's class is not mutated either; the raise itself may be deleted.
                continue
            if isinstance(node, ast.JoinedStr):
                continue
            if isinstance(node, ast.Call) and _call_name(node) == "Decimal" and field == "args":
                continue  # the Decimal literal is shifted as a number, not as a string
            if isinstance(value, list):
                for item in value:
                    if isinstance(item, ast.AST):
                        self.visit(item, node)
            elif isinstance(value, ast.AST):
                self.visit(value, node)

    def _mutate(self, node: ast.AST, parent: ast.AST | None) -> None:
        if isinstance(node, ast.Compare):
            for i, op in enumerate(node.ops):
                for variant in _CMP_VARIANTS.get(type(op), ()):
                    new = variant()
                    desc = f"`{_CMP_NAMES[type(op)]}` -> `{_CMP_NAMES[variant]}`"
                    self.add(node, desc, _set_field(node, "ops", i, new), _set_field(node, "ops", i, op))
        elif isinstance(node, ast.BinOp) and type(node.op) in _BIN_VARIANTS:
            op = node.op
            variant = _BIN_VARIANTS[type(op)]
            desc = f"`{_BIN_NAMES[type(op)]}` -> `{_BIN_NAMES[variant]}`"
            self.add(node, desc, _set_field(node, "op", None, variant()), _set_field(node, "op", None, op))
        elif isinstance(node, ast.AugAssign) and type(node.op) in _BIN_VARIANTS:
            op = node.op
            variant = _BIN_VARIANTS[type(op)]
            desc = f"`{_BIN_NAMES[type(op)]}=` -> `{_BIN_NAMES[variant]}=`"
            self.add(node, desc, _set_field(node, "op", None, variant()), _set_field(node, "op", None, op))
        elif isinstance(node, ast.BoolOp):
            op = node.op
            variant = ast.Or() if isinstance(op, ast.And) else ast.And()
            desc = "`and` -> `or`" if isinstance(op, ast.And) else "`or` -> `and`"
            self.add(node, desc, _set_field(node, "op", None, variant), _set_field(node, "op", None, op))
        elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not | ast.USub):
            self._replace_child(parent, node, node.operand,
                                "`not x` -> `x`" if isinstance(node.op, ast.Not) else "`-x` -> `x`")
        elif isinstance(node, ast.Constant):
            self._constant(node)
        elif isinstance(node, ast.Call):
            self._call(node, parent)
        elif isinstance(node, ast.Raise) and parent is not None:
            self._delete_statement(parent, node, "`raise` deleted")
        elif (isinstance(node, ast.Expr) and isinstance(node.value, ast.Call)
              and parent is not None):
            self._delete_statement(parent, node, "call statement deleted")

    def _constant(self, node: ast.Constant) -> None:
        value = node.value
        if isinstance(value, bool):
            self.add(node, f"`{value}` -> `{not value}`", _set_value(node, not value),
                     _set_value(node, value))
        elif isinstance(value, int | float):
            self.add(node, f"`{value!r}` -> `{value + 1!r}`", _set_value(node, value + 1),
                     _set_value(node, value))
        elif isinstance(value, str):
            new = f"XX{value}XX"
            self.add(node, f"`{value!r}` -> `{new!r}`", _set_value(node, new), _set_value(node, value))

    def _call(self, node: ast.Call, parent: ast.AST | None) -> None:
        name = _call_name(node)
        if name == "Decimal" and len(node.args) == 1 and isinstance(node.args[0], ast.Constant):
            arg = node.args[0]
            old = arg.value
            try:
                from decimal import Decimal

                new_value = str(Decimal(str(old)) + 1)
            except ArithmeticError:
                return
            new: object = new_value if isinstance(old, str) else int(Decimal(new_value))
            self.add(node, f"`Decimal({old!r})` -> `Decimal({new!r})`", _set_value(arg, new),
                     _set_value(arg, old))
        elif name == "abs" and isinstance(node.func, ast.Name) and len(node.args) == 1:
            self._replace_child(parent, node, node.args[0], "`abs(x)` -> `x`")
        elif name in {"min", "max"} and isinstance(node.func, ast.Name):
            func = node.func
            other = "max" if name == "min" else "min"
            self.add(node, f"`{name}` -> `{other}`", _set_field(func, "id", None, other),  # type: ignore[arg-type]
                     _set_field(func, "id", None, name))  # type: ignore[arg-type]

    def _replace_child(self, parent: ast.AST | None, old: ast.AST, new: ast.AST, desc: str) -> None:
        if parent is None:
            return
        for field, value in ast.iter_fields(parent):
            if value is old:
                self.add(old, desc, _set_field(parent, field, None, new),
                         _set_field(parent, field, None, old))
                return
            if isinstance(value, list):
                for i, item in enumerate(value):
                    if item is old:
                        self.add(old, desc, _set_field(parent, field, i, new),
                                 _set_field(parent, field, i, old))
                        return

    def _delete_statement(self, parent: ast.AST, stmt: ast.stmt, desc: str) -> None:
        for field in ("body", "orelse", "finalbody", "handlers"):
            block = getattr(parent, field, None)
            if isinstance(block, list):
                for i, item in enumerate(block):
                    if item is stmt:
                        pass_ = ast.copy_location(ast.Pass(), stmt)
                        self.add(stmt, desc, _set_field(parent, field, i, pass_),
                                 _set_field(parent, field, i, stmt))
                        return


def _set_value(node: ast.Constant, value: object) -> Callable[[], None]:
    def go() -> None:
        node.value = value

    return go


def mutants(path: str, source: str) -> Iterator[Mutant]:
    """Every mutant of one module, in source order; ones that would not compile are dropped."""
    tree = ast.parse(source)
    collector = _Collector()
    collector.visit(tree)
    lines = source.splitlines()
    seen: dict[tuple[int, str], int] = {}
    for point in sorted(collector.points, key=lambda p: p.line):
        key = (point.line, point.description)
        occurrence = seen.get(key, 0)
        seen[key] = occurrence + 1
        point.apply()
        try:
            mutated = ast.unparse(tree)
            compile(mutated, path, "exec")
        except (SyntaxError, ValueError):
            continue
        finally:
            point.revert()
        code = lines[point.line - 1].strip() if 0 < point.line <= len(lines) else ""
        yield Mutant(path, point.line, point.end_line, occurrence, point.description, code, mutated)
