"""M18 item 7: A1111's style editor: a style saved (new, or edited in the file it came from), deleted, refused
without a name, never changed in memory when styles.csv cannot be written; the selected styles applied to the tab's
prompts."""

import csv

import pytest

from modules import shared, styles, ui_prompt_styles


def rows(path) -> list[list[str]]:
    with open(path, encoding="utf-8-sig", newline="") as file:
        return list(csv.reader(file))[1:]


@pytest.fixture
def database(tmp_path, monkeypatch):
    first, second = tmp_path / "styles.csv", tmp_path / "styles-more.csv"
    for path, row in ((first, ["wrap", "masterpiece, {prompt}", "blurry"]), (second, ["tail", "oil painting", ""])):
        with open(path, "w", encoding="utf-8", newline="") as file:
            csv.writer(file).writerows([["name", "prompt", "negative_prompt"], row])
    database = styles.StyleDatabase(str(tmp_path / "styles*.csv"))
    monkeypatch.setattr(shared, "prompt_styles", database)
    return database, first, second


def test_a_new_style_goes_to_the_first_file_and_an_edited_one_stays_in_its_own(database):
    database, first, second = database
    ui_prompt_styles.save_style(" sketch ", "pencil sketch of {prompt}", "color")
    ui_prompt_styles.save_style("tail", "watercolor", "photo")
    assert ["sketch", "pencil sketch of {prompt}", "color"] in rows(first)
    assert rows(second) == [["tail", "watercolor", "photo"]]
    assert ui_prompt_styles.style_prompts("sketch") == ("pencil sketch of {prompt}", "color")
    assert ui_prompt_styles.style_prompts("not yet") is None
    database.reload()
    assert database.styles["tail"].prompt == "watercolor"


def test_a_deleted_style_leaves_its_file_and_the_list(database):
    database, first, _ = database
    ui_prompt_styles.delete_style("wrap")
    assert "wrap" not in database.styles and rows(first) == []
    with pytest.raises(ui_prompt_styles.StyleEditError, match="no style named"):
        ui_prompt_styles.delete_style("wrap")


@pytest.mark.parametrize(("name", "why"), [("", "needs a name"), ("  ", "needs a name"), ("None", "needs a name"),
                                           ("# mine", "cannot start with #")])
def test_a_style_needs_a_name_that_is_not_a_comment(database, name, why):
    with pytest.raises(ui_prompt_styles.StyleEditError, match=why):
        ui_prompt_styles.save_style(name, "x", "")


def test_a_styles_file_that_could_not_be_read_is_never_written_over(database, tmp_path):
    database, _, second = database
    second.write_bytes(b"name,prompt,negative_prompt\ncaf\xe9,x,\n")  # not UTF-8
    database.reload()
    with pytest.raises(ui_prompt_styles.StyleEditError, match="could not be read"):
        ui_prompt_styles.save_style("new", "x", "")
    with pytest.raises(ui_prompt_styles.StyleEditError, match="could not be read"):
        ui_prompt_styles.delete_style("wrap")
    assert second.read_bytes() == b"name,prompt,negative_prompt\ncaf\xe9,x,\n"


def test_when_the_file_cannot_be_written_the_styles_in_memory_do_not_change(database, monkeypatch):
    database, first, _ = database
    before = dict(database.styles)

    def disk_full(path=None):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(database, "save_styles", disk_full)
    with pytest.raises(ui_prompt_styles.StyleEditError, match="could not be written"):
        ui_prompt_styles.save_style("new", "x", "")
    with pytest.raises(ui_prompt_styles.StyleEditError):
        ui_prompt_styles.delete_style("wrap")
    assert database.styles == before


def test_applying_the_selected_styles_writes_them_into_the_prompts_and_clears_the_selection(database):
    prompt, negative, selected = ui_prompt_styles.materialize_styles("a cat", "ugly", ["wrap", "tail"])
    assert (prompt, negative, selected) == ("masterpiece, a cat, oil painting", "ugly, blurry", [])
