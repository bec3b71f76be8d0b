import csv

import pytest

from modules.styles import PromptStyle, StyleDatabase, apply_styles_to_prompt, merge_prompts


def write_styles(path, rows, header=("name", "prompt", "negative_prompt"), encoding="utf-8"):
    with open(path, "w", encoding=encoding, newline="") as file:
        writer = csv.writer(file)
        writer.writerow(header)
        writer.writerows(rows)


@pytest.fixture
def database(tmp_path):
    path = tmp_path / "styles.csv"
    write_styles(
        path,
        [
            ("wrap", "masterpiece, {prompt}, best", "blurry"),
            ("tail", "oil painting", "lowres, {prompt}"),
            ("# comment", "ignored", ""),
        ],
        encoding="utf-8-sig",
    )
    return StyleDatabase(path)


def test_merge_prompts_placeholder_and_append():
    assert merge_prompts("a {prompt} b", "cat") == "a cat b"
    assert merge_prompts("oil painting", "cat") == "cat, oil painting"
    assert merge_prompts("oil painting", "") == "oil painting"
    assert merge_prompts("", "cat") == "cat"
    assert apply_styles_to_prompt("cat", ["x {prompt}", "y"]) == "x cat, y"


def test_loads_csv_with_bom_and_skips_comments(database, tmp_path):
    assert list(database.styles) == ["wrap", "tail"]
    assert database.styles["wrap"] == PromptStyle("wrap", "masterpiece, {prompt}, best", "blurry",
                                                   str(tmp_path / "styles.csv"))


def test_missing_file_gives_empty_database(tmp_path):
    assert StyleDatabase([tmp_path / "absent.csv"]).styles == {}


def test_old_name_text_columns(tmp_path):
    path = tmp_path / "styles.csv"
    write_styles(path, [("old", "vintage")], header=("name", "text"))
    assert StyleDatabase(str(path)).styles["old"].prompt == "vintage"


def test_apply_styles_by_name(database):
    assert database.apply_styles_to_prompt("cat", ["wrap", "tail", "unknown"]) == "masterpiece, cat, best, oil painting"
    assert database.apply_negative_styles_to_prompt("ugly", ["wrap", "tail"]) == "lowres, ugly, blurry"


def test_extract_styles_inverts_apply(database):
    prompt = database.apply_styles_to_prompt("a cat", ["wrap", "tail"])
    negative = database.apply_negative_styles_to_prompt("ugly", ["wrap", "tail"])
    assert database.extract_styles_from_prompt(prompt, negative) == (["wrap", "tail"], "a cat", "ugly")


def test_extract_needs_both_prompts_to_match(database):
    assert database.extract_styles_from_prompt("a cat, oil painting", "ugly") == ([], "a cat, oil painting", "ugly")


def test_save_and_reload_round_trip(database, tmp_path):
    path = tmp_path / "styles.csv"
    database.styles["new"] = PromptStyle("new", 'quote " and, comma', "multi\nline")
    database.save_styles()

    assert (tmp_path / "styles.csv.bak").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["styles.csv", "styles.csv.bak"]
    reloaded = StyleDatabase(path)
    assert list(reloaded.styles) == ["wrap", "tail", "new"]
    assert reloaded.styles["new"] == PromptStyle("new", 'quote " and, comma', "multi\nline", str(path))


def test_glob_paths_and_reload(tmp_path):
    write_styles(tmp_path / "styles-a.csv", [("a", "A", "")])
    write_styles(tmp_path / "styles-b.csv", [("b", "B", "")])
    database = StyleDatabase([str(tmp_path / "styles*.csv")])
    assert sorted(database.styles) == ["a", "b"]
    assert database.default_path == str(tmp_path / "styles.csv")

    write_styles(tmp_path / "styles-c.csv", [("c", "C", "")])
    database.reload()
    assert sorted(database.styles) == ["a", "b", "c"]


def test_an_edited_added_or_removed_styles_file_is_read_again_without_a_restart(tmp_path):
    first = tmp_path / "styles.csv"
    first.write_text("name,prompt,negative_prompt\nwarm,\"{prompt}, warm\",\n", encoding="utf8")
    database = StyleDatabase(str(tmp_path / "styles*.csv"))
    assert not database.reload_if_changed(), "nothing changed"
    first.write_text("name,prompt,negative_prompt\nwarm,\"{prompt}, very warm\",\n", encoding="utf8")
    assert database.reload_if_changed()
    assert database.apply_styles_to_prompt("a cat", ["warm"]) == "a cat, very warm"
    (tmp_path / "styles-more.csv").write_text("name,prompt,negative_prompt\ncold,cold,\n", encoding="utf8")
    assert database.reload_if_changed() and set(database.styles) == {"warm", "cold"}
    first.unlink()
    assert database.reload_if_changed() and set(database.styles) == {"cold"}


def test_a_generation_with_styles_reads_an_edited_styles_file(tmp_path, monkeypatch):
    from modules import processing, shared

    path = tmp_path / "styles.csv"
    path.write_text("name,prompt,negative_prompt\nwarm,\"{prompt}, warm\",\n", encoding="utf8")
    monkeypatch.setattr(shared, "prompt_styles", StyleDatabase(str(path)))
    path.write_text("name,prompt,negative_prompt\nwarm,\"{prompt}, hot\",cold\n", encoding="utf8")
    p = processing.StableDiffusionProcessingTxt2Img(prompt="a cat", styles=["warm"])
    assert p.styled(["a cat"]) == ["a cat, hot"]
    assert p.styled([""], negative_prompts=True) == ["cold"]
