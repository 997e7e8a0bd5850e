from companion.assets import ASSETS
from companion.cards import PAGE, data_card_markdown


def test_committed_data_card_is_up_to_date():
    assert PAGE.read_text() == data_card_markdown(), "run `python -m companion.cards` and commit the page"


def test_data_card_lists_every_asset_and_the_gemma_notice():
    page = PAGE.read_text()
    for asset in ASSETS.values():
        assert f"`{asset.name}`" in page and asset.sha256 in page
    assert "Gemma Terms of Use" in page and "ai.google.dev/gemma/terms" in page
