"""The node's image recipes: keys that follow their inputs, docker's .dockerignore rules, OCI archives."""

from __future__ import annotations

import hashlib
import json
import tarfile
from pathlib import Path

from memories.controlplane.node import images
from memories.controlplane.node.oci import write_image_archive


def _context(tmp_path: Path) -> Path:
    context = tmp_path / "context"
    (context / "pkg" / "__pycache__").mkdir(parents=True)
    (context / "pkg" / "sub").mkdir()
    (context / "Dockerfile").write_text(
        "FROM base AS build\nCOPY req.txt ./\nCOPY pkg \\\n  ./pkg\nFROM base\nCOPY --from=build /x /x\n"
    )
    (context / ".dockerignore").write_text("**/__pycache__\n**/*.so\ndocs\n")
    (context / "req.txt").write_text("a==1\n")
    (context / "pkg" / "code.py").write_text("x = 1\n")
    (context / "pkg" / "sub" / "fast.so").write_bytes(b"\x7fELF")
    (context / "pkg" / "__pycache__" / "code.cpython-311.pyc").write_bytes(b"")
    (context / "notes.md").write_text("not copied\n")
    return context


def test_context_files_are_what_the_copies_read_minus_dockerignore(tmp_path: Path) -> None:
    context = _context(tmp_path)
    assert images.copied_sources(context / "Dockerfile") == ["req.txt", "pkg"]
    assert [str(path.relative_to(context)) for path in images.context_files(context)] == ["req.txt", "pkg/code.py"]


def test_project_key_changes_with_a_copied_file_only(tmp_path: Path) -> None:
    context = _context(tmp_path)
    base = images.ImageRecipe("base", "localhost/base:1", "0" * 16)
    first = images.project_recipe(base, context)
    (context / "notes.md").write_text("edited\n")
    (context / "pkg" / "sub" / "fast.so").write_bytes(b"rebuilt")
    assert images.project_recipe(base, context).key == first.key
    (context / "pkg" / "code.py").write_text("x = 2\n")
    second = images.project_recipe(base, context)
    assert second.key != first.key and second.name == f"{images.PROJECT_IMAGE_REPOSITORY}:{second.key}"
    agent = images.agent_recipe(second)
    assert (agent.key, agent.name) == (second.key, f"{images.AGENT_IMAGE_REPOSITORY}:{second.key}")
    assert images.next_recipe(agent).name == f"{agent.name}-next" and images.next_recipe(agent).path != agent.path
    assert images.project_recipe(images.ImageRecipe("base", "localhost/base:2", "1" * 16), context).key != second.key


def test_the_repository_image_skips_caches_and_tests() -> None:
    context = images.build_context()
    files = {str(path.relative_to(context)) for path in images.context_files(context)}
    assert "memories/cli.py" in files and "requirements.lock" in files
    assert not any(part.startswith("tests") or "__pycache__" in part or part.endswith(".so") for part in files)


def test_oci_archive_names_the_image_and_its_digests_match(tmp_path: Path) -> None:
    layer = tmp_path / "layer.tar"
    with tarfile.open(layer, "w") as archive:
        payload = tmp_path / "hello"
        payload.write_text("hi\n")
        archive.add(payload, arcname="hello")
    written = write_image_archive(tmp_path / "out.tar", name="localhost/demo:7", layers=[layer], config={"Cmd": ["x"]})
    with tarfile.open(written.path) as archive:
        blobs = {
            member.name.rsplit("/", 1)[1]: archive.extractfile(member).read()  # type: ignore[union-attr]
            for member in archive.getmembers()
            if member.name.startswith("blobs/sha256/")
        }
        index = json.loads(archive.extractfile("index.json").read())  # type: ignore[union-attr]
    assert all(hashlib.sha256(data).hexdigest() == digest for digest, data in blobs.items())
    [entry] = index["manifests"]
    assert entry["annotations"]["io.containerd.image.name"] == "localhost/demo:7"
    assert entry["digest"] == written.manifest_digest
    manifest = json.loads(blobs[entry["digest"][7:]])
    config = json.loads(blobs[manifest["config"]["digest"][7:]])
    assert config["rootfs"]["diff_ids"] == [manifest["layers"][0]["digest"]]
    assert config["config"] == {"Cmd": ["x"]}
