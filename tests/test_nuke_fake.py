"""The Nuke fake is held to types-nuke (unofficial stubs of Nuke 13.2's API) and to Foundry's
own behaviour, the way tests/test_resolve_fake.py holds the Resolve fake to fusionscript-stubs.

Every public function, constant and class of the fake `nuke` must exist in the stubs; every
method of a fake class must exist on the same class (or a base) in the stubs; where the stubs
spell out a signature (not ``*args, **kwargs``), the fake's must have the same parameter names
and the same required ones, so a keyword Nuke does not take (``setName(uniquify=True)``) fails
here as it fails in Nuke.
"""
from __future__ import annotations

import ast
import functools
import inspect
import sys
import threading
from pathlib import Path

import pytest

import fake_nuke


def stub_dir() -> Path:
    for entry in sys.path:
        candidate = Path(entry) / "nuke-stubs"
        if (candidate / "_nuke.pyi").is_file():
            return candidate
    raise FileNotFoundError("types-nuke is not installed (pip install 'types-nuke>=13.2,<14')")


@functools.lru_cache(maxsize=1)
def stubs() -> dict:
    """{"classes": {name: {"bases", "methods": {name: [FunctionDef]}}}, "functions": {name:
    [FunctionDef]}, "constants": {names}} across every .pyi of nuke-stubs."""
    classes: dict = {}
    functions: dict = {}
    constants: set = set()
    for pyi in sorted(stub_dir().glob("*.pyi")):
        tree = ast.parse(pyi.read_text(encoding="utf-8"))
        for node in tree.body:
            if isinstance(node, ast.ClassDef):
                methods: dict = {}
                for item in node.body:
                    if isinstance(item, ast.FunctionDef):
                        methods.setdefault(item.name, []).append(item)
                bases = [ast.unparse(b).split(".")[-1] for b in node.bases]
                classes.setdefault(node.name, {"bases": bases, "methods": methods})
            elif isinstance(node, ast.FunctionDef):
                functions.setdefault(node.name, []).append(node)
            elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
                constants.add(node.target.id)
            elif isinstance(node, ast.Assign):
                constants.update(t.id for t in node.targets if isinstance(t, ast.Name))
    return {"classes": classes, "functions": functions, "constants": constants}


def stub_mro(name: str) -> list[str]:
    classes = stubs()["classes"]
    order, todo = [], [name]
    while todo:
        current = todo.pop(0)
        if current in classes and current not in order:
            order.append(current)
            todo.extend(classes[current]["bases"])
    return order


def stub_method(cls: str, method: str) -> list[ast.FunctionDef] | None:
    for name in stub_mro(cls):
        found = stubs()["classes"][name]["methods"].get(method)
        if found:
            return found
    return None


def stub_shape(fn: ast.FunctionDef, method: bool):
    """(names, required count, keyword-only names) or None when the stub takes *args/**kwargs."""
    if fn.args.vararg or fn.args.kwarg:
        return None
    params = [a.arg for a in fn.args.posonlyargs + fn.args.args]
    if method and params and params[0] in ("self", "cls"):
        params = params[1:]
    return params, len(params) - len(fn.args.defaults), [a.arg for a in fn.args.kwonlyargs]


def fake_shape(fn, method: bool):
    params = list(inspect.signature(fn).parameters.values())
    if method and params and params[0].name in ("self", "cls"):
        params = params[1:]
    if any(p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) for p in params):
        return None
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return ([p.name for p in positional], sum(p.default is p.empty for p in positional),
            [p.name for p in params if p.kind is p.KEYWORD_ONLY])


def signature_problem(where: str, overloads: list[ast.FunctionDef], fn, method: bool) -> str:
    shapes = [stub_shape(o, method) for o in overloads]
    if any(s is None for s in shapes):
        return ""  # the stubs do not say: existence is all that can be checked
    mine = fake_shape(fn, method)
    if mine in shapes:
        return ""
    # Overloads that extend one another (selectedNodes() / selectedNodes(filter)) are one
    # signature whose extra parameters are optional.
    longest = max(shapes, key=lambda s: len(s[0]))
    if mine is not None and all(s[0] == longest[0][:len(s[0])] for s in shapes) and \
            mine == (longest[0], min(s[1] for s in shapes), longest[2]):
        return ""
    return f"{where}: fake {mine} vs stubs {shapes}"


@pytest.fixture(scope="module")
def nuke():
    module, _scripts = fake_nuke.build()
    return module


def _public(module) -> dict:
    return {n: v for n, v in vars(module).items()
            if not n.startswith("_") and n not in fake_nuke.FAKE_HELPERS}


def _classes(nuke) -> list[type]:
    found = [v for v in _public(nuke).values() if inspect.isclass(v)]
    menu = nuke.menu("Nuke")
    return found + [type(menu), type(menu).__mro__[1]]  # Menu and MenuItem, returned objects


def test_the_stubs_are_found_and_hold_what_genplate_calls():
    table = stubs()
    assert "setName" in table["classes"]["Node"]["methods"]
    assert "getText" in table["classes"]["String_Knob"]["methods"]
    assert {"getColorspaceList", "executeInMainThreadWithResult", "createNode"} <= \
        set(table["functions"])
    assert "STRIP_CASCADE_PREFIX" in table["constants"]


def test_every_public_name_of_the_fake_exists_in_the_stubs(nuke):
    table = stubs()
    known = set(table["classes"]) | set(table["functions"]) | table["constants"]
    missing = sorted(n for n in _public(nuke) if n not in known)
    assert missing == [], f"the fake nuke has names types-nuke does not: {missing}"


def test_module_functions_have_the_stub_signatures(nuke):
    problems = []
    for name, value in _public(nuke).items():
        if callable(value) and not inspect.isclass(value):
            overloads = stubs()["functions"].get(name)
            assert overloads, name
            problems.append(signature_problem(f"nuke.{name}", overloads, value, method=False))
    assert [p for p in problems if p] == []


@pytest.mark.parametrize("cls_name", [
    "Knob", "Array_Knob", "Int_Knob", "Double_Knob", "Boolean_Knob", "Unsigned_Knob",
    "Enumeration_Knob", "ColorChip_Knob", "String_Knob", "EvalString_Knob",
    "Multiline_Eval_String_Knob", "File_Knob", "Script_Knob", "PyScript_Knob", "PyCustom_Knob",
    "Text_Knob", "Tab_Knob", "Node", "Group", "Root", "Undo", "ProgressTask",
    "Menu", "MenuItem"])
def test_each_fake_class_has_the_stub_bases_methods_and_signatures(nuke, cls_name):
    cls = next(c for c in _classes(nuke) if c.__name__ == cls_name)
    fake_bases = {c.__name__ for c in cls.__mro__}
    stub_bases = [b for b in stub_mro(cls_name) if hasattr(nuke, b) or b in ("Menu", "MenuItem")]
    assert set(stub_bases) <= fake_bases, f"{cls_name}: stub bases {stub_bases}"
    problems = []
    for name in dir(cls):
        if name.startswith("_") and name not in ("__getitem__", "__enter__", "__exit__"):
            continue
        value = inspect.getattr_static(cls, name)
        if isinstance(value, (staticmethod, classmethod)):
            value = value.__func__
            is_method = False
        else:
            is_method = True
        if not callable(value) or name in ("__init__",):
            continue
        overloads = stub_method(cls_name, name)
        if overloads is None:
            problems.append(f"{cls_name}.{name} is not in types-nuke")
            continue
        problems.append(signature_problem(f"{cls_name}.{name}", overloads, value, is_method))
    assert [p for p in problems if p] == []


def test_set_name_takes_uncollide_not_uniquify(nuke):
    node = nuke.nodes.Read()
    with pytest.raises(TypeError):
        node.setName("x", uniquify=True)
    other = nuke.nodes.Read()
    other.setName(node.name(), uncollide=True)
    assert other.name() != node.name()


# -- the fake's behaviour, each against its record -------------------------------------------

def test_the_colour_space_list_is_the_recorded_form(nuke):
    """ayon-nuke PR #60: bare roles and NAME<TAB><TAB>ALIAS,ALIAS under ACES 1.3."""
    entries = nuke.getColorspaceList(nuke.nodes.Read()["colorspace"])
    assert entries[0].startswith("default (")
    assert "scene_linear" in entries and "aces_interchange" in entries
    assert "ACEScg\t\tACES - ACEScg,lin_ap1" in entries
    assert "ACES2065-1\t\taces2065_1,ACES - ACES2065-1,lin_ap0" in entries
    old, _ = fake_nuke.build(list_form="role_space")
    assert "scene_linear\t(ACEScg)" in old.getColorspaceList(old.nodes.Read()["colorspace"])


def test_getcolorspacelist_strips_families_only_with_the_flag(nuke):
    knob = nuke.Enumeration_Knob("cs", "cs", ["ACES/ACEScg", "Utility/Raw"])
    assert nuke.getColorspaceList(knob) == ["ACES/ACEScg", "Utility/Raw"]
    knob.setFlag(nuke.STRIP_CASCADE_PREFIX)
    assert nuke.getColorspaceList(knob) == ["ACEScg", "Raw"]


def test_eval_string_knobs_evaluate_tcl_and_string_knobs_do_not(nuke):
    node = nuke.nodes.Read()
    text = '[{"prompt": "a $5 kite"}]'
    raw = nuke.String_Knob("data")
    evaluated = nuke.Multiline_Eval_String_Knob("evaluated")
    node.addKnob(raw)
    node.addKnob(evaluated)
    raw.setValue(text)
    evaluated.setValue(text)
    assert raw.value() == raw.getText() == text
    assert evaluated.getText() == text
    with pytest.raises(RuntimeError):
        evaluated.value()
    evaluated.setValue("[value name] v1")
    assert evaluated.value() == f"{node.name()} v1"


def test_execute_in_main_thread_with_result_swallows_and_returns_none(nuke, capsys):
    """Foundry's executeInMain.py: traceback.print_exc(), then None."""
    def boom():
        raise ValueError("inside the main thread")

    got = {}
    worker = threading.Thread(target=lambda: got.setdefault(
        "r", nuke.executeInMainThreadWithResult(boom)))
    worker.start()
    while worker.is_alive():
        nuke.run_main_queue(timeout=0.05)
    worker.join()
    assert got == {"r": None}
    assert "inside the main thread" in capsys.readouterr().err


def test_undo_cancel_undoes_the_group_and_leaves_no_step(nuke):
    nuke.Undo.begin("try")
    node = nuke.nodes.Read()
    node["label"].setValue("x")
    nuke.Undo.cancel()
    assert node not in nuke.allNodes("Read") and nuke.recorder.undo_groups == []
    nuke.Undo.cancel()  # 17.1: safe with no group open


def test_panels_evaluate_the_widget_string_with_no_names_bound():
    """nukescripts/panels.py pastes the string into __import__('nukescripts')...WidgetKnob(...)."""
    nuke = fake_nuke.install()
    try:
        import nukescripts

        class Widget:
            pass

        sys.modules["fake_widget_module"] = type(sys)("fake_widget_module")
        sys.modules["fake_widget_module"].Widget = Widget
        nukescripts.panels.registerWidgetAsPanel("fake_widget_module.Widget", "t", "id.bare")
        assert nukescripts.panels.restorePanel("id.bare") is None  # NameError, printed
        nukescripts.panels.registerWidgetAsPanel(
            "__import__('fake_widget_module', fromlist=['Widget']).Widget", "t", "id.import")
        panel = nukescripts.panels.restorePanel("id.import")
        assert [type(w) for w in panel.widgets()] == [Widget]
        assert ("pane.add", "current pane", "id.import") in nuke.recorder.calls
    finally:
        sys.modules.pop("fake_widget_module", None)
        fake_nuke.uninstall()
