"""The floors of the house, read from the imports of its files: the engine and the commands import no
pack, the engine's rooms import only the rooms beneath them, and no pack imports another (what the
makemore packs share sits below them, in packs/makemore/)."""
import ast
from pathlib import Path

import pytest

pytestmark = pytest.mark.fast  # pure pieces: the fast tier

PACKAGE = Path(__file__).resolve().parents[1] / "backprop_ninja"
SHARED = "makemore"  # not a pack: the layer the makemore packs share


def imported(path: Path) -> set[str]:
    """The backprop_ninja modules a file imports, by their full names."""
    module = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    package = module.rsplit(".", 1)[0] if path.name != "__init__.py" else module.removesuffix(".__init__")
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = package.split(".")[: len(package.split(".")) - node.level + 1] if node.level else []
            prefix = ".".join(base + ([node.module] if node.module else []))
            names |= {prefix} | {f"{prefix}.{a.name}" for a in node.names if is_module(f"{prefix}.{a.name}")}
    return {name for name in names if name.startswith("backprop_ninja")}


def is_module(name: str) -> bool:
    """Is `name` a module of the package (rather than a name a module defines)?"""
    path = PACKAGE.parent.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def pack_of(module: str) -> str | None:
    """The pack a module is part of (None outside the packs, or in the shared layer)."""
    parts = module.split(".")
    if parts[:2] != ["backprop_ninja", "packs"] or len(parts) < 3 or parts[2] == SHARED:
        return None
    return parts[2]


# The engine's rooms from the ground up: each may import only those before it (results and reading,
# on the ground floor, neither of them).
ROOMS = ("results", "reading", "exercises", "isolation", "judging")
BENEATH = {room: set(ROOMS[:ROOMS.index(room)]) for room in ROOMS} | {"reading": set()}


def room_of(module: str) -> str | None:
    parts = module.split(".")
    return parts[2] if parts[:2] == ["backprop_ninja", "engine"] and len(parts) > 2 else None


def test_the_engine_and_the_commands_import_no_pack():
    """Not even the layer the makemore packs share: what the commands know of an exercise, the pack
    declares (ninja train runs any exercise's training stage)."""
    verbs = [p for verb in ("check", "grade", "report") for p in (PACKAGE / verb).rglob("*.py")]
    commands = [PACKAGE / "cli.py", *verbs]
    for path in [*(PACKAGE / "engine").rglob("*.py"), *commands]:
        assert not {m for m in imported(path) if m.startswith("backprop_ninja.packs")}, path


def test_each_room_of_the_engine_imports_only_the_rooms_beneath_it():
    folders = {p.name for p in (PACKAGE / "engine").iterdir() if (p / "__init__.py").exists()}
    assert set(ROOMS) == folders
    for room in ROOMS:
        for path in (PACKAGE / "engine" / room).rglob("*.py"):
            reached = {room_of(m) for m in imported(path)} - {None, room}
            assert reached <= BENEATH[room], f"{path} imports the room(s) {reached - BENEATH[room]}"


def test_no_pack_imports_another():
    for path in (PACKAGE / "packs").rglob("*.py"):
        own = pack_of(".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts))
        others = {pack_of(m) for m in imported(path)} - {None, own}
        assert not others, f"{path} imports the pack(s) {others}"


def test_the_reading_of_imports_sees_what_it_is_looking_for():
    """Both tests above rest on `imported`: it finds a relative import of another pack."""
    found = imported(PACKAGE / "packs" / "mlp.py")
    assert "backprop_ninja.packs.makemore.model" in found and "backprop_ninja.engine.exercises.forward" in found


def test_the_sandbox_finds_the_package_where_it_is():
    """What the sandbox lets the zygote read, and its PYTHONPATH, are found from the sandbox module's own
    place: moved into another room, it must still name the package's folder and the one holding it."""
    from backprop_ninja.engine.isolation import sandbox

    assert sandbox.PACKAGE == PACKAGE and Path(sandbox.package_root()) == PACKAGE.parent
