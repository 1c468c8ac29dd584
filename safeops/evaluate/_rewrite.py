"""Validate an expression's AST against the allow-list and inject run-time guards.

One recursive pass does both. Every node type not handled here is refused (an
allow-list: ``lambda``, ``:=``, ``await``, ``yield``, ``@`` and anything a future Python
adds are refused because nothing accepts them). Each visit returns the rewritten node and
whether its value is *known to be a number* (int, float, bool or complex of bounded
size). Guards are injected only where that is not known: ``a * 2 + b`` over numbers
compiles to the same bytecode as native ``eval``.

The pass runs twice per expression: once assuming nothing about the variables (the
general code), once assuming every variable is a machine-sized number (the fast code,
chosen per call when the values are exactly that).
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Iterable
from typing import Any

from safeops.errors import EvaluationLimitError, UnsafeExpressionError, quote
from safeops.evaluate._guards import (
    GUARD_NAMES,
    OTHER_OPERATORS,
    check_format_spec,
    make_guards,
)
from safeops.evaluate._limits import ExpressionLimits
from safeops.evaluate._policy import ALLOWED_ATTRIBUTES, ATTRIBUTE_NAMES

__all__ = ["SAFE_BUILTINS", "Rewriter"]

#: Builtins every expression may call. Types among them (int, str, list...) are
#: callable but their attributes are not reachable (attribute access checks exact types).
SAFE_BUILTINS = frozenset(
    {"abs", "all", "any", "ascii", "bin", "bool", "chr", "complex", "dict", "divmod",
     "enumerate", "float", "frozenset", "hash", "hex", "int", "len", "list", "max", "min",
     "oct", "ord", "pow", "range", "repr", "reversed", "round", "set", "sorted", "str",
     "sum", "tuple", "zip"}
)  # fmt: skip
# Replaced by a guard; usable only as the direct target of a call.
_GUARDED_CALLS = {"pow": GUARD_NAMES["pow"], "range": GUARD_NAMES["range"],
                  "sum": GUARD_NAMES["sum"], "zip": GUARD_NAMES["zip"],
                  "enumerate": GUARD_NAMES["enumerate"]}  # fmt: skip
#: Builtins usable as values (key=abs): scalar in, scalar out. The others, run from C as
#: a key= function, would copy or format data with no guard in between.
_VALUE_BUILTINS = frozenset({"abs", "bool", "chr", "float", "int", "len", "ord"})
_TEXT_CALLS = frozenset({"str", "repr", "ascii"})
_MATERIALISING_CALLS = frozenset({"list", "tuple", "sorted"})
_HASHING_CALLS = frozenset({"set", "frozenset", "dict"})
# Called through a guard when given more than one argument (codec lookup, int parsing
# in a power-of-two base, round's 10**n).
_GUARDED_IF_ARGS = {"str": GUARD_NAMES["str"], "int": GUARD_NAMES["int"],
                    "round": GUARD_NAMES["round"]}  # fmt: skip
_COPYING_CALLS = frozenset({"str", "repr", "ascii", "list", "tuple", "set", "frozenset",
                            "dict", "sorted", "bin", "hex", "oct"})  # fmt: skip
_NUMERIC_CALLS = frozenset({"len", "hash", "ord", "bool", "float"})
_NUMERIC_IF_ARGS = frozenset({"abs", "round", "min", "max", "int"})
_NUMBER_TYPES = (bool, int, float, complex)
_CONSTANT_TYPES = (type(None), bool, int, float, complex, str, bytes)
#: Folded constant results at most this big are emitted as plain operations.
_SMALL_INT_BITS = 128
_SMALL_LENGTH = 256
_ARITHMETIC = {ast.Add: "add", ast.Mult: "mul", ast.Mod: "mod", ast.Pow: "pow",
               ast.LShift: "lshift", ast.BitOr: "or", ast.BitXor: "xor"}  # fmt: skip
_PLAIN_FUNCTIONS = {ast.Sub: operator.sub, ast.Div: operator.truediv,
                    ast.FloorDiv: operator.floordiv, ast.RShift: operator.rshift,
                    ast.BitAnd: operator.and_}  # fmt: skip
_PLAIN_OPERATORS = tuple(_PLAIN_FUNCTIONS)
_COMPREHENSIONS = (ast.ListComp, ast.SetComp, ast.GeneratorExp, ast.DictComp)


def _refused(
    message: str, node: ast.AST | None = None, **context: object
) -> UnsafeExpressionError:
    column = getattr(node, "col_offset", None)
    where = f" (column {column + 1})" if isinstance(column, int) else ""
    return UnsafeExpressionError(f"{message}{where}", **context)


def _name(identifier: str) -> ast.Name:
    return ast.Name(id=identifier, ctx=ast.Load())


def _guard(kind: str, *args: ast.expr) -> ast.Call:
    return ast.Call(func=_name(GUARD_NAMES[kind]), args=[*args, _name(GUARD_NAMES["budget"])],
                    keywords=[])  # fmt: skip


class Rewriter:
    """One validation-and-rewrite pass over a parsed expression."""

    def __init__(
        self, variables: Iterable[str], functions: Iterable[str], limits: ExpressionLimits,
        *, numeric_variables: bool,
    ) -> None:  # fmt: skip
        self.variables = frozenset(variables)
        self.functions = frozenset(functions) | SAFE_BUILTINS
        self.limits = limits
        self.numeric_variables = numeric_variables
        self.bound: list[frozenset[str]] = []  # comprehension variables, innermost last
        self.comprehension_depth = 0
        self.static_length = 0
        self.uses_guards = False
        self._static_guards = make_guards(limits)

    def rewrite(self, tree: ast.Expression) -> ast.Expression:
        """Return the guarded tree; raise UnsafeExpressionError / EvaluationLimitError."""
        try:
            body, numeric = self.visit(tree.body)
        except RecursionError:
            raise EvaluationLimitError(
                "expression nested too deeply to check (a very long operator chain?)",
                limit="max_depth",
            ) from None
        if not numeric:
            # lazy iterators, callables and views never reach the host
            self.uses_guards = True
            body = ast.Call(func=_name(GUARD_NAMES["result"]), args=[body], keywords=[])
        return ast.fix_missing_locations(ast.Expression(body=body))

    # -- dispatch ------------------------------------------------------------------------

    def visit(self, node: ast.expr) -> tuple[ast.expr, bool]:
        method = getattr(self, "visit_" + type(node).__name__, None)
        if method is None:
            raise _refused(
                f"{type(node).__name__} is not allowed in an expression; allowed are "
                "literals, names, arithmetic, comparisons, boolean and conditional "
                "expressions, subscripts, comprehensions, f-strings and calls of allowed "
                "functions",
                node,
                syntax=type(node).__name__,
            )
        result: tuple[ast.expr, bool] = method(node)
        return result

    def _plain(self, node: ast.expr) -> ast.expr:
        return self.visit(node)[0]

    def _guarded(self, kind: str, *args: ast.expr) -> ast.Call:
        self.uses_guards = True
        return _guard(kind, *args)

    # -- leaves ----------------------------------------------------------------------------

    def visit_Constant(self, node: ast.Constant) -> tuple[ast.expr, bool]:  # noqa: N802
        if type(node.value) not in _CONSTANT_TYPES:
            raise _refused(f"constant {quote(node.value)} is not allowed", node)
        return node, type(node.value) in _NUMBER_TYPES

    def visit_Name(self, node: ast.Name) -> tuple[ast.expr, bool]:  # noqa: N802
        name = node.id  # the parser has already applied NFKC normalisation
        if name == "_" and any(name in scope for scope in self.bound):
            return node, False  # the usual throwaway comprehension variable
        if name.startswith("_"):
            raise _refused(f"name {name!r} is refused: names starting with '_' are "
                           "never reachable from an expression", node, name=name)  # fmt: skip
        if any(name in scope for scope in self.bound):
            return node, False
        if name in self.variables:
            return node, self.numeric_variables
        if name in _GUARDED_CALLS:
            raise _refused(f"{name!r} can only be called directly, not used as a value", node)
        if name in SAFE_BUILTINS and name not in _VALUE_BUILTINS:
            raise _refused(f"{name!r} can only be called directly, not used as a value "
                           "(e.g. as a key= function)", node)  # fmt: skip
        if name in self.functions:
            return node, False
        raise _refused(
            f"unknown name {name!r}: declare it in names= (a variable) or functions=",
            node,
            name=name,
        )

    # -- operators -------------------------------------------------------------------------

    def visit_BinOp(self, node: ast.BinOp) -> tuple[ast.expr, bool]:  # noqa: N802
        left, left_numeric = self.visit(node.left)
        right, right_numeric = self.visit(node.right)
        numeric = left_numeric and right_numeric
        kind = _ARITHMETIC.get(type(node.op))
        plain = ast.BinOp(left=left, op=node.op, right=right)
        if kind is None and not isinstance(node.op, _PLAIN_OPERATORS):
            raise _refused(f"operator {type(node.op).__name__} is not allowed", node)
        if isinstance(left, ast.Constant) and isinstance(right, ast.Constant):
            folded = self._fold(kind, node.op, left.value, right.value)
            if folded is not None:
                return folded, numeric
        if numeric and kind not in ("pow", "lshift"):
            return plain, numeric
        if kind is None:
            index = OTHER_OPERATORS.index(_PLAIN_FUNCTIONS[type(node.op)])
            return self._guarded("other", left, right, ast.Constant(index)), False
        if kind == "pow":
            # not "numeric": a big result must not make the next `*` a plain product
            return self._guarded("pow", left, right, ast.Constant(None)), False
        return self._guarded(kind, left, right), numeric and kind != "lshift"

    def _fold(self, kind: str | None, op: ast.operator, left: object, right: object
              ) -> ast.Constant | None:  # fmt: skip
        """Decide an operation on two constants now: refuse it if it is over a limit,
        return its (small) result as a constant, or None to leave it to run time."""
        budget: list[Any] = [self.limits.max_length, self.limits.max_iterations, float("inf")]
        try:
            if kind is None:
                value = _PLAIN_FUNCTIONS[type(op)](left, right)
            elif kind == "pow":
                value = self._static_guards[GUARD_NAMES[kind]](left, right, None, budget)
            else:
                value = self._static_guards[GUARD_NAMES[kind]](left, right, budget)
        except (EvaluationLimitError, UnsafeExpressionError):
            raise
        except Exception:
            return None  # fails at run time with the ordinary error (1 << -1, 'a' % 1)
        if isinstance(value, int) and value.bit_length() > _SMALL_INT_BITS:
            return None
        if isinstance(value, (str, bytes)) and len(value) > _SMALL_LENGTH:
            return None
        if type(value) not in _CONSTANT_TYPES:
            return None
        return ast.Constant(value=value)

    def visit_UnaryOp(self, node: ast.UnaryOp) -> tuple[ast.expr, bool]:  # noqa: N802
        operand, numeric = self.visit(node.operand)
        if (
            isinstance(operand, ast.Constant)
            and type(operand.value) in _NUMBER_TYPES
            and isinstance(node.op, (ast.USub, ast.UAdd))
        ):
            number: Any = operand.value
            value = -number if isinstance(node.op, ast.USub) else +number
            return ast.Constant(value=value), True  # -5 is a unary op in the AST
        return ast.UnaryOp(op=node.op, operand=operand), numeric or isinstance(node.op, ast.Not)

    def visit_BoolOp(self, node: ast.BoolOp) -> tuple[ast.expr, bool]:  # noqa: N802
        visited = [self.visit(value) for value in node.values]
        return ast.BoolOp(op=node.op, values=[v for v, _ in visited]), all(n for _, n in visited)

    def visit_Compare(self, node: ast.Compare) -> tuple[ast.expr, bool]:  # noqa: N802
        left, numeric = self.visit(node.left)
        comparators = []
        for comparator in node.comparators:
            value, value_numeric = self.visit(comparator)
            numeric = numeric and value_numeric
            if not value_numeric:
                # `in` and container equality scan in C: charge the size
                value = self._guarded("steps", value)
            comparators.append(value)
        return ast.Compare(left=left, ops=node.ops, comparators=comparators), numeric

    def visit_IfExp(self, node: ast.IfExp) -> tuple[ast.expr, bool]:  # noqa: N802
        test = self._plain(node.test)
        body, body_numeric = self.visit(node.body)
        orelse, orelse_numeric = self.visit(node.orelse)
        return ast.IfExp(test=test, body=body, orelse=orelse), body_numeric and orelse_numeric

    # -- containers, subscripts, attributes -------------------------------------------------

    def _elements(self, elements: list[ast.expr]) -> tuple[list[ast.expr], bool]:
        starred = any(isinstance(element, ast.Starred) for element in elements)
        return [self._plain(element) for element in elements], starred

    def visit_Starred(self, node: ast.Starred) -> tuple[ast.expr, bool]:  # noqa: N802
        return ast.Starred(value=self._plain(node.value), ctx=ast.Load()), False

    def _charged_if(self, condition: bool, node: ast.expr) -> tuple[ast.expr, bool]:
        return (self._guarded("charge", node) if condition else node), False

    def visit_List(self, node: ast.List) -> tuple[ast.expr, bool]:  # noqa: N802
        elements, starred = self._elements(node.elts)
        return self._charged_if(starred, ast.List(elts=elements, ctx=ast.Load()))

    def visit_Tuple(self, node: ast.Tuple) -> tuple[ast.expr, bool]:  # noqa: N802
        elements, starred = self._elements(node.elts)
        return self._charged_if(starred, ast.Tuple(elts=elements, ctx=ast.Load()))

    def visit_Set(self, node: ast.Set) -> tuple[ast.expr, bool]:  # noqa: N802
        elements, starred = self._elements(node.elts)
        elements = [
            ast.Starred(value=self._guarded("hashed", element.value), ctx=ast.Load())
            if isinstance(element, ast.Starred) else element
            for element in elements
        ]  # fmt: skip
        return self._charged_if(starred, ast.Set(elts=elements))

    def visit_Dict(self, node: ast.Dict) -> tuple[ast.expr, bool]:  # noqa: N802
        keys = [None if key is None else self._plain(key) for key in node.keys]
        values = [self._plain(value) for value in node.values]
        return self._charged_if(None in keys, ast.Dict(keys=keys, values=values))

    def visit_Subscript(self, node: ast.Subscript) -> tuple[ast.expr, bool]:  # noqa: N802
        value = self._plain(node.value)
        index = self._plain(node.slice)
        subscript = ast.Subscript(value=value, slice=index, ctx=ast.Load())
        return self._charged_if(isinstance(node.slice, ast.Slice), subscript)

    def visit_Slice(self, node: ast.Slice) -> tuple[ast.expr, bool]:  # noqa: N802
        parts = [None if part is None else self._plain(part)
                 for part in (node.lower, node.upper, node.step)]  # fmt: skip
        return ast.Slice(lower=parts[0], upper=parts[1], step=parts[2]), False

    def visit_Attribute(self, node: ast.Attribute) -> tuple[ast.expr, bool]:  # noqa: N802
        attribute = node.attr  # NFKC-normalised by the parser, like names
        if attribute.startswith("_") or attribute not in ATTRIBUTE_NAMES:
            raise _refused(
                f"attribute {attribute!r} is not allowed; only listed public attributes of "
                "plain data types (str.upper, dict.get, ...) can be read",
                node,
                attribute=attribute,
            )
        if isinstance(node.value, ast.Name) and node.value.id in self.functions and not any(
            node.value.id in scope for scope in self.bound
        ):
            raise _refused(f"attributes of function {node.value.id!r} are not reachable", node)
        value = self._plain(node.value)
        if (
            isinstance(value, ast.Constant)
            and attribute in ALLOWED_ATTRIBUTES.get(type(value.value), frozenset())
            and not callable(getattr(value.value, attribute))
        ):
            return ast.Attribute(value=value, attr=attribute, ctx=ast.Load()), True
        return self._guarded("attr", value, ast.Constant(attribute)), False

    # -- calls ---------------------------------------------------------------------------

    def visit_Call(self, node: ast.Call) -> tuple[ast.expr, bool]:  # noqa: N802
        visited = [self.visit(arg) for arg in node.args]
        args = [arg for arg, _numeric in visited]
        keywords = []
        for keyword in node.keywords:
            if keyword.arg is not None and keyword.arg.startswith("_"):
                raise _refused(f"keyword {keyword.arg!r} is refused", node)
            keywords.append(ast.keyword(arg=keyword.arg, value=self._plain(keyword.value)))
        if isinstance(node.func, ast.Attribute):
            # the attribute guard returns a wrapper that charges the method's work
            return ast.Call(func=self._plain(node.func), args=args, keywords=keywords), False
        if not isinstance(node.func, ast.Name):
            raise _refused(
                "only functions given by name and allowed methods can be called (not the "
                "result of a call, a subscript or a variable)",
                node,
            )
        name = node.func.id
        if name.startswith("_") or name not in self.functions or any(
            name in scope for scope in self.bound
        ):
            raise _refused(
                f"{name!r} is not a callable function here; pass host functions in "
                "functions=, the allowed builtins are: " + ", ".join(sorted(SAFE_BUILTINS)),
                node,
                name=name,
            )
        if name == "pow":
            if keywords or len(args) not in (2, 3) or any(isinstance(a, ast.Starred) for a in args):
                raise _refused("pow() takes 2 or 3 plain positional arguments here", node)
            modulus = args[2] if len(args) == 3 else ast.Constant(None)
            return self._guarded("pow", args[0], args[1], modulus), False
        if args and not visited[0][1]:
            # C-level work over the argument (a scan, a copy, a parse): charge its size
            first = args[0]
            guard = "steps"
            if name in _TEXT_CALLS:
                guard = "text"
            elif name in _MATERIALISING_CALLS:
                guard = "copy"
            elif name in _HASHING_CALLS:
                guard = "hashed"
            if isinstance(first, ast.Starred):
                args[0] = ast.Starred(value=self._guarded("steps", first.value), ctx=ast.Load())
            else:
                args[0] = self._guarded(guard, first)
        if name in _GUARDED_IF_ARGS and (len(args) > 1 or keywords):
            self.uses_guards = True
            guarded = ast.Call(func=_name(_GUARDED_IF_ARGS[name]), args=args, keywords=keywords)
            return (self._guarded("charge", guarded) if name == "str" else guarded), False
        if name in _GUARDED_CALLS:
            self.uses_guards = True
            return ast.Call(func=_name(_GUARDED_CALLS[name]), args=args, keywords=keywords), False
        call = ast.Call(func=node.func, args=args, keywords=keywords)
        if name in _COPYING_CALLS:
            return self._guarded("charge", call), False
        plain_numbers = not keywords and all(numeric for _arg, numeric in visited)
        return call, name in _NUMERIC_CALLS or (name in _NUMERIC_IF_ARGS and plain_numbers)

    # -- f-strings -------------------------------------------------------------------------

    def visit_JoinedStr(self, node: ast.JoinedStr) -> tuple[ast.expr, bool]:  # noqa: N802
        values: list[ast.expr] = []
        for value in node.values:
            if isinstance(value, ast.Constant):
                values.append(value)
            elif isinstance(value, ast.FormattedValue):
                values.append(self._formatted(value))
            else:
                raise _refused("unexpected f-string part", node)
        joined = ast.JoinedStr(values=values)
        dynamic = any(isinstance(value, ast.FormattedValue) for value in values)
        return self._charged_if(dynamic, joined)

    def _formatted(self, node: ast.FormattedValue) -> ast.FormattedValue:
        value, numeric = self.visit(node.value)
        if not numeric:
            value = self._guarded("text", value)  # bound a container's text before C builds it
        spec = node.format_spec
        if spec is None:
            return ast.FormattedValue(value=value, conversion=node.conversion, format_spec=None)
        if isinstance(spec, ast.JoinedStr) and all(
            isinstance(part, ast.Constant) for part in spec.values
        ):
            text = "".join(str(part.value) for part in spec.values)  # type: ignore[attr-defined]
            self.static_length += check_format_spec(text, self.limits.max_length)
            if self.static_length > self.limits.max_length:
                raise EvaluationLimitError(
                    "the format widths in this expression add up to more than "
                    f"max_length={self.limits.max_length}",
                    limit="max_length",
                    maximum=self.limits.max_length,
                )
            return ast.FormattedValue(value=value, conversion=node.conversion, format_spec=spec)
        # A width computed at run time: format through the guard.
        dynamic_spec = self._plain(spec)
        guarded = self._guarded("fmt", value, ast.Constant(node.conversion), dynamic_spec)
        return ast.FormattedValue(value=guarded, conversion=-1, format_spec=None)

    # -- comprehensions --------------------------------------------------------------------

    def _comprehension(
        self, generators: list[ast.comprehension], elements: list[ast.expr]
    ) -> tuple[list[ast.comprehension], list[ast.expr]]:
        """Rewrite the generators (each iterable through the step guard) and elements.
        Builds new nodes: the same parsed tree is rewritten twice."""
        cost = sum(1 for element in elements for _ in ast.walk(element)) + sum(
            1 for generator in generators for condition in generator.ifs
            for _ in ast.walk(condition)
        )  # fmt: skip
        new_generators = []
        pushed = 0
        self.comprehension_depth += 1
        try:
            for generator in generators:
                if generator.is_async:
                    raise _refused("async comprehensions are not allowed", generator.iter)
                iterable = self._plain(generator.iter)
                names = self._targets(generator.target)
                self.bound.append(names)
                pushed += 1
                conditions = [self._plain(condition) for condition in generator.ifs]
                guarded = self._guarded("iter", iterable, ast.Constant(max(cost, 1)))
                new_generators.append(ast.comprehension(
                    target=generator.target, iter=guarded, ifs=conditions, is_async=0))  # fmt: skip
            rewritten = [self._plain(element) for element in elements]
        finally:
            del self.bound[len(self.bound) - pushed :]
            self.comprehension_depth -= 1
        return new_generators, rewritten

    def _targets(self, target: ast.expr) -> frozenset[str]:
        if isinstance(target, ast.Name):
            if (target.id.startswith("_") and target.id != "_") or target.id in self.functions:
                raise _refused(
                    f"comprehension variable {target.id!r} is refused (it starts with '_' or "
                    "shadows a function)",
                    target,
                )
            return frozenset({target.id})
        if isinstance(target, (ast.Tuple, ast.List)):
            return frozenset().union(*(self._targets(element) for element in target.elts))
        if isinstance(target, ast.Starred):
            return self._targets(target.value)
        raise _refused("comprehension targets must be names or tuples of names", target)

    def visit_ListComp(self, node: ast.ListComp) -> tuple[ast.expr, bool]:  # noqa: N802
        generators, (element,) = self._comprehension(node.generators, [node.elt])
        # each element kept is charged by its size (a fresh big int, a tuple...)
        element = self._guarded("charge", element)
        return ast.ListComp(elt=element, generators=generators), False

    def visit_SetComp(self, node: ast.SetComp) -> tuple[ast.expr, bool]:  # noqa: N802
        generators, (element,) = self._comprehension(node.generators, [node.elt])
        element = self._guarded("charge", element)
        return ast.SetComp(elt=element, generators=generators), False

    def visit_GeneratorExp(self, node: ast.GeneratorExp) -> tuple[ast.expr, bool]:  # noqa: N802
        generators, (element,) = self._comprehension(node.generators, [node.elt])
        return ast.GeneratorExp(elt=element, generators=generators), False

    def visit_DictComp(self, node: ast.DictComp) -> tuple[ast.expr, bool]:  # noqa: N802
        generators, (key, value) = self._comprehension(node.generators, [node.key, node.value])
        key, value = self._guarded("charge", key), self._guarded("charge", value)
        return ast.DictComp(key=key, value=value, generators=generators), False
