"""Every use of shared.opts reachable from the generation path (processing.process_images), found statically in
modules/, each labelled with its phase: "after" the options snapshot is taken in process_images_inner (during the
generation), or "before" (before the snapshot, and the override machinery around the generation). Checked
against the allow-list in docs/architecture/invariants.md.

    python -m tools.invariants.opts_reads           list them and check them against the allow-list
    python -m tools.invariants.opts_reads --list    only list them

A use is `opts.X`, `shared.opts.X` (however `shared` is imported), `getattr(opts, "X")`, or the object itself
(`opts`, `shared.opts`: option "*"). Calls are followed by name: module functions and classes through imports
(function-local ones too), `x.method()` to every method of that name in modules/, `self.method` and property
reads, function names handed on as values (callbacks), the dynamic calls listed in DYNAMIC_CALLS, and calls to the
DISPATCHERS, followed to the one method their string argument names. The entry must reach the snapshot taker (as
calls are followed, by name: `runner.run(...)` reaches every method named run). After the snapshot, calls to the
functions in REQUIRED_ARGUMENTS must pass the argument that keeps them off the live options. Extension code
(scripts/, extensions) is reached only through hooks and registries and is not followed: it reads shared.opts by
design.
"""

import ast
import os
import sys
from dataclasses import dataclass, field

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ALLOW_LIST = os.path.join(REPO_ROOT, "docs", "architecture", "invariants.md")
ALLOW_LIST_HEADING = "## Option reads left on the generation path"

ENTRY = "processing.process_images"
SNAPSHOT_TAKER = "processing.process_images_inner"
# Calls no name lookup can follow ("Class.*": every method of the class, and the code in its body).
DYNAMIC_CALLS = {
    "shared_state.State.do_set_current_image": ["live_preview.decode_preview"],  # state.preview_decoder
    "images.FilenameGenerator._expand_tag": ["images.FilenameGenerator.*"],  # FilenameGenerator.replacements
}
# Functions that call the method a string argument names (function: (class, position of that argument)); a call
# passing anything but a string literal there is followed to every method of the class.
DISPATCHERS = {
    "processing._run_scripts": ("scripts.ScriptRunner", 1),  # getattr(p.scripts, hook)
}
# Functions whose argument, when left out, means "the live shared.opts": the generation must always pass it.
REQUIRED_ARGUMENTS = {
    "images.image_grid": "options",
    "images.save_image_with_geninfo": "options",
    "images.resize_image": "options",
    "images.save_image": "p",
    "processing.apply_overlay": "options",
}
CLASS_BODY = "<class body>"


@dataclass
class Function:
    name: str
    module: str
    node: ast.AST
    is_property: bool = False
    class_name: str | None = None


@dataclass
class Codebase:
    package: str = ""
    functions: dict[str, Function] = field(default_factory=dict)
    classes: dict[str, list[str]] = field(default_factory=dict)  # class -> its base names as written
    scopes: dict[str, dict[str, str]] = field(default_factory=dict)  # module -> local name -> qualified name
    methods_by_name: dict[str, list[str]] = field(default_factory=dict)


def _module_name(path: str, package_dir: str) -> str:
    relative = os.path.relpath(path, os.path.dirname(package_dir))[: -len(".py")]
    parts = relative.split(os.sep)[1:]
    return ".".join(part for part in parts if part != "__init__")


def _decorated_as_property(node) -> bool:
    return any(isinstance(d, ast.Name) and d.id == "property" or isinstance(d, ast.Attribute) and d.attr == "setter"
               for d in node.decorator_list)


def load(package_dir: str) -> Codebase:
    """Indexes every function, method and class of the package (names without the package prefix)."""
    code = Codebase(package=os.path.basename(package_dir))
    for folder, _, files in os.walk(package_dir):
        for file in sorted(files):
            if not file.endswith(".py"):
                continue
            path = os.path.join(folder, file)
            module = _module_name(path, package_dir)
            with open(path, encoding="utf8") as source:
                tree = ast.parse(source.read(), path)
            code.scopes[module] = _scope(tree, module, code.package)
            for node in tree.body:
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    code.functions[f"{module}.{node.name}"] = Function(f"{module}.{node.name}", module, node)
                elif isinstance(node, ast.ClassDef):
                    _index_class(code, module, node)
    return code


def _index_class(code: Codebase, module: str, node: ast.ClassDef) -> None:
    class_name = f"{module}.{node.name}"
    code.classes[class_name] = [ast.unparse(base) for base in node.bases]
    body = [item for item in node.body if not isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef))]
    code.functions[f"{class_name}.{CLASS_BODY}"] = Function(f"{class_name}.{CLASS_BODY}", module,
                                                            ast.Module(body=body, type_ignores=[]),
                                                            class_name=class_name)
    for item in node.body:
        if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)):
            name = f"{class_name}.{item.name}"
            code.functions[name] = Function(name, module, item, _decorated_as_property(item), class_name)
            code.methods_by_name.setdefault(item.name, []).append(name)


def _scope(tree: ast.Module, module: str, package: str) -> dict[str, str]:
    """Names that stand for something in the package: its imports (anywhere in the module) and its own defs."""
    scope = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0 and \
                (node.module == package or node.module.startswith(package + ".")):
            prefix = node.module[len(package) + 1:]
            for alias in node.names:
                scope[alias.asname or alias.name] = f"{prefix}.{alias.name}" if prefix else alias.name
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith(package + ".") and alias.asname:
                    scope[alias.asname] = alias.name[len(package) + 1:]
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            scope[node.name] = f"{module}.{node.name}"
    return scope


def _constructors(code: Codebase, class_name: str) -> list[str]:
    """__init__ and __post_init__ of the class or the first scanned base class that has them."""
    return [found for method in ("__init__", "__post_init__")
            for found in _first_in_mro(code, _mro(code, class_name), method)]


def _first_in_mro(code: Codebase, classes: list[str], method: str) -> list[str]:
    """[class.method] of the first of classes that defines method, or []."""
    return [f"{cls}.{method}" for cls in classes if f"{cls}.{method}" in code.functions][:1]


def _mro(code: Codebase, class_name: str | None) -> list[str]:
    order, pending = [], [class_name]
    while pending:
        current = pending.pop(0)
        if current in order or current not in code.classes:
            continue
        order.append(current)
        module = current.rsplit(".", 1)[0]
        scope = code.scopes.get(module, {})
        pending.extend(scope.get(base, f"{module}.{base}") for base in code.classes[current])
    return order


def _targets(code: Codebase, qualified: str | None) -> list[str]:
    if qualified in code.functions:
        return [qualified]
    if qualified in code.classes:
        return _constructors(code, qualified)
    return []


def _call_targets(nodes) -> dict[int, ast.Call]:
    return {id(node.func): node for root in nodes for node in ast.walk(root) if isinstance(node, ast.Call)}


def calls(code: Codebase, function: Function, nodes, dispatchers: dict) -> set[str]:
    """The functions the code in nodes (part of function) calls or hands on as a value, calls to dispatchers
    followed to the method they dispatch to."""
    found = set()
    for _, target, call in _resolved(code, function, nodes):
        found.add(target)
        if target in dispatchers:
            found.update(_dispatched(code, target, dispatchers[target], call))
    return found


def _dispatched(code: Codebase, dispatcher: str, rule: tuple[str, int], call: ast.Call | None) -> list[str]:
    """The method a call to dispatcher names; every method of the class for any other call, or when the dispatcher is
    handed on as a value (call is None)."""
    class_name, position = rule
    argument = call.args[position] if call is not None and position < len(call.args) else None
    if isinstance(argument, ast.Constant) and isinstance(argument.value, str):
        return _expand(code, f"{class_name}.{argument.value}", f"a call to {dispatcher} (line {call.lineno})")
    return _expand(code, f"{class_name}.*", "DISPATCHERS")


def _in_annotations(nodes) -> set[int]:
    annotations = []
    for root in nodes:
        for node in ast.walk(root):
            if isinstance(node, ast.arg | ast.AnnAssign) and node.annotation is not None:
                annotations.append(node.annotation)
            elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.returns is not None:
                annotations.append(node.returns)
    return {id(node) for annotation in annotations for node in ast.walk(annotation)}


def _resolved(code: Codebase, function: Function, nodes):
    """(node, function it names, the call it is the callee of or None) for each name or attribute in nodes that
    stands for a function of the package (type annotations aside)."""
    scope = code.scopes.get(function.module, {})
    call_targets = _call_targets(nodes)
    annotations = _in_annotations(nodes)
    for root in nodes:
        for node in ast.walk(root):
            if id(node) in annotations:
                continue
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
                targets = _targets(code, scope.get(node.id))
            elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Load):
                targets = _attribute_targets(code, function, scope, node, id(node) in call_targets)
            else:
                continue
            for target in targets:
                yield node, target, call_targets.get(id(node))


def _attribute_targets(code: Codebase, function: Function, scope: dict, node: ast.Attribute, is_call: bool):
    base = node.value
    if isinstance(base, ast.Name) and scope.get(base.id) in code.scopes:  # module.function
        return _targets(code, f"{scope[base.id]}.{node.attr}")
    if isinstance(base, ast.Call) and isinstance(base.func, ast.Name) and base.func.id == "super":
        return _first_in_mro(code, _mro(code, function.class_name)[1:], node.attr)
    if isinstance(base, ast.Name) and base.id == "self" and not is_call:  # a bound method handed on
        return _first_in_mro(code, _mro(code, function.class_name), node.attr)
    if node.attr.startswith("__"):
        return []
    return [method for method in code.methods_by_name.get(node.attr, [])
            if is_call or code.functions[method].is_property]


def _is_shared_module(node, scope: dict, package: str) -> bool:
    if isinstance(node, ast.Name):
        return scope.get(node.id) == "shared"
    return ast.unparse(node) == f"{package}.shared"


def _is_opts(node, scope: dict, package: str) -> bool:
    if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
        return node.id == "opts" or scope.get(node.id) == "shared.opts"
    return isinstance(node, ast.Attribute) and node.attr == "opts" and _is_shared_module(node.value, scope, package)


def reads(code: Codebase, function: Function, nodes) -> list[tuple[str, int]]:
    """(option name or "*", line) for each use of the options object in nodes (part of function)."""
    scope, package = code.scopes.get(function.module, {}), code.package
    found, inside = [], set()
    for root in nodes:
        for node in ast.walk(root):
            if isinstance(node, ast.Attribute) and _is_opts(node.value, scope, package):
                found.append((node.attr, node.lineno))
                inside.add(id(node.value))
            elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "getattr" \
                    and len(node.args) >= 2 and _is_opts(node.args[0], scope, package) \
                    and isinstance(node.args[1], ast.Constant):
                found.append((str(node.args[1].value), node.lineno))
                inside.add(id(node.args[0]))
    for root in nodes:
        for node in ast.walk(root):
            if _is_opts(node, scope, package) and id(node) not in inside:
                found.append(("*", node.lineno))
    return found


def missing_arguments(code: Codebase, function: Function, nodes, required: dict) -> list[tuple[str, str, int]]:
    """(called function, argument, line) for each call in nodes that leaves out the argument required names for
    the called function."""
    missing = []
    for node, target, call in _resolved(code, function, nodes):
        argument = required.get(target)
        if argument is None or call is None:
            continue
        parameters = [arg.arg for arg in code.functions[target].node.args.args]
        passed_by_position = argument in parameters and parameters.index(argument) < len(call.args)
        if not passed_by_position and argument not in {keyword.arg for keyword in call.keywords}:
            missing.append((target, argument, node.lineno))
    return missing


def _split_at_snapshot(function: Function) -> int:
    """Index of the statement that takes the snapshot (assigns .opts_snapshot from a call)."""
    for index, statement in enumerate(function.node.body):
        if isinstance(statement, ast.Assign) and isinstance(statement.value, ast.Call) and any(
                isinstance(target, ast.Attribute) and target.attr == "opts_snapshot" for target in statement.targets):
            return index
    raise LookupError(f"{function.name} takes no options snapshot")


def _expand(code: Codebase, target: str, named_by: str = "DYNAMIC_CALLS") -> list[str]:
    if target.endswith(".*"):
        found = [name for name, function in code.functions.items() if function.class_name == target[:-2]]
    else:
        found = [target] if target in code.functions else []
    if not found:
        raise LookupError(f"{named_by} names {target}, which {code.package}/ does not define")
    return found


def _closure(code: Codebase, roots: set[str], stop: set[str], dynamic_calls: dict, dispatchers: dict) -> set[str]:
    seen, pending = set(), list(roots)
    while pending:
        name = pending.pop()
        if name in seen:
            continue
        seen.add(name)
        if name in stop:
            continue
        function = code.functions[name]
        pending.extend(calls(code, function, [function.node], dispatchers))
        for target in dynamic_calls.get(name, []):
            pending.extend(_expand(code, target))
    return seen


@dataclass
class GenerationPath:
    """What the generation path reads: sorted (phase, function, option, line) rows, and the calls after the
    snapshot that leave out a required argument: sorted (caller, called function, argument, line) rows."""

    reads: list[tuple]
    missing_arguments: list[tuple]


def generation_path(code: Codebase, dynamic_calls: dict | None = None, required_arguments: dict | None = None,
                    dispatchers: dict | None = None) -> GenerationPath:
    entry, snapshot_taker = ENTRY, SNAPSHOT_TAKER
    dynamic_calls = DYNAMIC_CALLS if dynamic_calls is None else dynamic_calls
    dispatchers = DISPATCHERS if dispatchers is None else dispatchers
    required = REQUIRED_ARGUMENTS if required_arguments is None else required_arguments
    for name in required:
        _expand(code, name, "REQUIRED_ARGUMENTS")
    for source in dynamic_calls:
        _expand(code, source)
    for dispatcher, (class_name, _) in dispatchers.items():
        _expand(code, dispatcher, "DISPATCHERS")
        _expand(code, f"{class_name}.*", "DISPATCHERS")
    taker = code.functions[snapshot_taker]
    split = _split_at_snapshot(taker)
    before_part, after_part = taker.node.body[: split + 1], taker.node.body[split + 1:]
    after = _closure(code, calls(code, taker, after_part, dispatchers), set(), dynamic_calls, dispatchers)
    reached = _closure(code, {entry}, {snapshot_taker}, dynamic_calls, dispatchers)
    if snapshot_taker not in reached:
        raise LookupError(f"{entry} does not reach {snapshot_taker}, which takes the snapshot")
    before = (reached | _closure(code, calls(code, taker, before_part, dispatchers), {snapshot_taker}, dynamic_calls,
                                 dispatchers)) - after
    rows, missing = set(), set()
    for phase, names in (("before", before), ("after", after)):
        for name in names - {snapshot_taker}:
            function = code.functions[name]
            rows.update((phase, name, option, line) for option, line in reads(code, function, [function.node]))
            if phase == "after":
                missing.update((name, *row) for row in missing_arguments(code, function, [function.node], required))
    rows.update(("before", snapshot_taker, option, line) for option, line in reads(code, taker, before_part))
    rows.update(("after", snapshot_taker, option, line) for option, line in reads(code, taker, after_part))
    missing.update((snapshot_taker, *row) for row in missing_arguments(code, taker, after_part, required))
    return GenerationPath(sorted(rows), sorted(missing))


def allow_list(path: str = ALLOW_LIST) -> set[tuple[str, str, str]]:
    """(phase, function, option) rows of the allow-list table under ALLOW_LIST_HEADING."""
    with open(path, encoding="utf8") as file:
        text = file.read()
    start = text.index(ALLOW_LIST_HEADING)
    rows = set()
    for line in text[start:].splitlines()[1:]:
        if line.startswith("## "):
            break
        cells = [cell.strip().strip("`") for cell in line.strip().strip("|").split("|")]
        if line.startswith("|") and len(cells) == 4 and cells[0] in ("before", "after"):
            if not cells[3]:
                raise ValueError(f"{path}: the allow-list row for {cells[1]} {cells[2]} gives no reason")
            rows.add((cells[0], cells[1], cells[2]))
    return rows


def differences(found: list[tuple], allowed: set[tuple]) -> tuple[list[tuple], list[tuple]]:
    """(uses the allow-list lacks, allow-list rows no use matches)."""
    present = {(phase, function, option) for phase, function, option, _ in found}
    return ([row for row in found if row[:3] not in allowed], sorted(allowed - present))


def main(argv: list[str]) -> int:
    path = generation_path(load(os.path.join(REPO_ROOT, "modules")))
    for phase, function, option, line in path.reads:
        print(f"{phase:6}  {function}  {option}  (line {line})")
    if "--list" in argv:
        return 0
    unlisted, stale = differences(path.reads, allow_list())
    for phase, function, option, line in unlisted:
        print(f"NOT ALLOWED: {phase} {function} reads {option} (line {line}): read it from the snapshot "
              f"(options_for(p)), or add a justified row to {os.path.relpath(ALLOW_LIST, REPO_ROOT)}")
    for phase, function, option in stale:
        print(f"STALE: the allow-list names {phase} {function} {option}, which no longer reads it: remove the row")
    for caller, called, argument, line in path.missing_arguments:
        print(f"MISSING ARGUMENT: {caller} calls {called} without {argument} (line {line}), so it reads the live "
              "options: pass the snapshot's")
    failed = unlisted or stale or path.missing_arguments
    print(f"{len(path.reads)} uses; {'allow-list mismatch' if failed else 'OK'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
