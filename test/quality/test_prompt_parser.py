import pytest
import torch

from modules.prompt_parser import (
    DictWithShape,
    ScheduledPromptConditioning,
    SdConditioning,
    get_learned_conditioning,
    get_learned_conditioning_prompt_schedules,
    parse_prompt_attention,
    reconstruct_cond_batch,
    stack_conds,
)

UP, DOWN = 1.1, 1 / 1.1

# The first six rows are the examples in A1111's parse_prompt_attention docstring, to the last float digit.
ATTENTION = [
    ("normal text", [["normal text", 1.0]]),
    ("an (important) word", [["an ", 1.0], ["important", 1.1], [" word", 1.0]]),
    ("(unbalanced", [["unbalanced", 1.1]]),
    ("\\(literal\\]", [["(literal]", 1.0]]),
    ("(unnecessary)(parens)", [["unnecessaryparens", 1.1]]),
    ("a (((house:1.3)) [on] a (hill:0.5), sun, (((sky))).", [
        ["a ", 1.0], ["house", 1.5730000000000004], [" ", 1.1], ["on", 1.0], [" a ", 1.1], ["hill", 0.55],
        [", sun, ", 1.1], ["sky", 1.4641000000000006], [".", 1.1],
    ]),
    ("", [["", 1.0]]),
    ("(a)", [["a", UP]]),
    ("((a))", [["a", UP * UP]]),
    ("[a]", [["a", DOWN]]),
    ("[[a]]", [["a", DOWN * DOWN]]),
    ("(a:1.5)", [["a", 1.5]]),
    ("(a: 0.25 )", [["a", 0.25]]),
    ("(a:1.)", [["a", 1.0]]),
    ("((a:1.5))", [["a", 1.5 * UP]]),
    ("[(a:1.5)]", [["a", 1.5 * DOWN]]),
    ("x (a (b) c) y", [["x ", 1.0], ["a ", UP], ["b", UP * UP], [" c", UP], [" y", 1.0]]),
    ("a (b", [["a ", 1.0], ["b", UP]]),
    ("a [b", [["a ", 1.0], ["b", DOWN]]),
    ("a) b]", [["a) b]", 1.0]]),
    ("a:1.5) b", [["a:1.5) b", 1.0]]),
    ("(a:b)", [["a:b", UP]]),
    ("(a:1.2.3)", [["a:1.2.3", UP]]),
    ("(a:1e2)", [["a:1e2", UP]]),
    ("\\(a\\) \\[b\\]", [["(a) [b]", 1.0]]),
    ("(\\(a\\))", [["(a)", UP]]),
    ("a\\\\b", [["a\\b", 1.0]]),
    ("a\\b", [["ab", 1.0]]),
    ("a BREAK b", [["a", 1.0], ["BREAK", -1], ["b", 1.0]]),
    ("a\nBREAK\tb", [["a", 1.0], ["BREAK", -1], ["b", 1.0]]),
    ("BREAK", [["", 1.0], ["BREAK", -1], ["", 1.0]]),
    ("a BREAK BREAK b", [["a", 1.0], ["BREAK", -1], ["", 1.0], ["BREAK", -1], ["b", 1.0]]),
    ("(a BREAK b)", [["a", UP], ["BREAK", -1], ["b", UP]]),
    ("(a BREAK:-1)", [["a", -1.0], ["BREAK", -1], ["", -1.0]]),
    ("a break b, aBREAK, BREAKING", [["a break b, aBREAK, BREAKING", 1.0]]),
]


@pytest.mark.parametrize(("text", "expected"), ATTENTION, ids=[repr(text) for text, _ in ATTENTION])
def test_parse_prompt_attention(text, expected):
    assert parse_prompt_attention(text) == expected


# (prompt, steps, schedule); the first rows are the examples in A1111's docstring.
SCHEDULES = [
    ("test", 10, [[10, "test"]]),
    ("a [b:3]", 10, [[3, "a "], [10, "a b"]]),
    ("a [b: 3]", 10, [[3, "a "], [10, "a b"]]),
    ("a [[[b]]:2]", 10, [[2, "a "], [10, "a [[b]]"]]),
    ("[(a:2):3]", 10, [[3, ""], [10, "(a:2)"]]),
    ("a [b : c : 1] d", 10, [[1, "a b  d"], [10, "a  c  d"]]),
    ("a[b:[c:d:2]:1]e", 10, [[1, "abe"], [2, "ace"], [10, "ade"]]),
    ("a [unbalanced", 10, [[10, "a [unbalanced"]]),
    ("a [b:.5] c", 10, [[5, "a  c"], [10, "a b c"]]),
    ("((a][:b:c [d:3]", 10, [[3, "((a][:b:c "], [10, "((a][:b:c d"]]),
    ("[a|(b:1.1)]", 4, [[1, "a"], [2, "(b:1.1)"], [3, "a"], [4, "(b:1.1)"]]),
    ("[fe|]male", 4, [[1, "female"], [2, "male"], [3, "female"], [4, "male"]]),
    ("[fe|||]male", 5, [[1, "female"], [2, "male"], [3, "male"], [4, "male"], [5, "female"]]),
    (
        "fantasy landscape with a [mountain:lake:0.25] and [an oak:a christmas tree:0.75][ in foreground::0.6]"
        "[ in background:0.25] [shoddy:masterful:0.5]",
        100,
        [
            [25, "fantasy landscape with a mountain and an oak in foreground shoddy"],
            [50, "fantasy landscape with a lake and an oak in foreground in background shoddy"],
            [60, "fantasy landscape with a lake and an oak in foreground in background masterful"],
            [75, "fantasy landscape with a lake and an oak in background masterful"],
            [100, "fantasy landscape with a lake and a christmas tree in background masterful"],
        ],
    ),
    # A1111's docstring expects an edit here, but its grammar has no text with "|" outside [a|b]: the prompt is text.
    ("a [{b|d{:.5] c", 10, [[10, "a [{b|d{:.5] c"]]),
    # when: step number or fraction
    ("a [b:c:5] d", 10, [[5, "a b d"], [10, "a c d"]]),
    ("a [b:c:0.5] d", 10, [[5, "a b d"], [10, "a c d"]]),
    ("[b:c:.25]", 10, [[2, "b"], [10, "c"]]),
    ("[b:c:1.0]", 10, [[10, "b"]]),
    ("[b:c:5.0]", 10, [[10, "b"]]),
    ("[b:c:20]", 10, [[10, "b"]]),
    ("[b:c:0]", 10, [[10, "c"]]),
    ("[b:c:-3]", 10, [[10, "c"]]),
    ("[b:c:+3]", 10, [[3, "b"], [10, "c"]]),
    ("[b:c:1e1]", 20, [[10, "b"], [20, "c"]]),
    ("[b:c: 3 ]", 10, [[3, "b"], [10, "c"]]),
    # add, remove, empty sides
    ("a [b::3]", 10, [[3, "a b"], [10, "a "]]),
    ("a [:b:3]", 10, [[3, "a "], [10, "a b"]]),
    # nesting
    ("[[a:b:5]:c:3]", 10, [[3, "a"], [5, "c"], [10, "c"]]),
    ("[[a|b]:c:2]", 4, [[1, "a"], [2, "b"], [3, "c"], [4, "c"]]),
    ("[[a:b:2]|c]", 4, [[1, "a"], [2, "c"], [3, "b"], [4, "c"]]),
    ("([b:c:3])", 10, [[3, "(b)"], [10, "(c)"]]),
    ("(x:[b:c:3])", 10, [[3, "(x:b)"], [10, "(x:c)"]]),
    ("[a|b|c]", 5, [[1, "a"], [2, "b"], [3, "c"], [4, "a"], [5, "b"]]),
    ("x [a|b] [c:d:1]", 3, [[1, "x a c"], [2, "x b d"], [3, "x a d"]]),
    # emphasis and escapes pass through untouched
    ("(a:1.2) [b:c:3] \\(d\\) [e]", 10, [[3, "(a:1.2) b \\(d\\) [e]"], [10, "(a:1.2) c \\(d\\) [e]"]]),
    ("\\[a:b:3\\]", 10, [[10, "\\[a:b:3\\]"]]),
    ("[a:b]", 10, [[10, "[a:b]"]]),
    ("[a:b:3x]", 10, [[10, "[a:b:3x]"]]),
    ("[a:[b:3]", 10, [[3, "[a:"], [10, "[a:b"]]),
    ("[a:b:3]:4]", 10, [[3, "a:4]"], [10, "b:4]"]]),
    # malformed: the whole prompt is text
    ("a [b:c:3", 10, [[10, "a [b:c:3"]]),
    ("a [b:c:3] | d", 10, [[10, "a [b:c:3] | d"]]),
    ("(a|b) [c:d:3]", 10, [[10, "(a|b) [c:d:3]"]]),
    ("[c:d:3] \\", 10, [[10, "[c:d:3] \\"]]),
    ("[a|b", 10, [[10, "[a|b"]]),
    ("[a:" * 2000 + "x" + ":1]" * 2000, 10, [[10, "[a:" * 2000 + "x" + ":1]" * 2000]]),
]


@pytest.mark.parametrize(("prompt", "steps", "expected"), SCHEDULES, ids=[repr(p[:40]) for p, _, _ in SCHEDULES])
def test_prompt_schedules(prompt, steps, expected):
    assert get_learned_conditioning_prompt_schedules([prompt], steps) == [expected]


# (prompt, base_steps, hires_steps, use_old_scheduling, schedule); the first two rows are A1111's docstring examples.
HIRES_SCHEDULES = [
    ("a [b:.5] c", 10, 10, False, [[10, "a b c"]]),
    ("a [b:1.5] c", 10, 10, False, [[5, "a  c"], [10, "a b c"]]),
    ("a [b:1.25] c", 10, 20, False, [[5, "a  c"], [20, "a b c"]]),
    ("a [b:15] c", 10, 20, False, [[5, "a  c"], [20, "a b c"]]),
    ("a [b:5] c", 10, 20, False, [[20, "a b c"]]),
    ("[a|b]", 10, 3, False, [[1, "a"], [2, "b"], [3, "a"]]),
    ("a | [b:15]", 10, 20, False, [[20, "a | [b:15]"]]),
    ("a [b:.5] c", 10, 20, True, [[5, "a  c"], [10, "a b c"]]),
    ("a [b:5.0] c", 10, None, True, [[5, "a  c"], [10, "a b c"]]),
    ("[b:c:1.0]", 10, None, True, [[1, "b"], [10, "c"]]),
    ("[b:c:0.25]", 10, None, True, [[2, "b"], [10, "c"]]),
]


@pytest.mark.parametrize(("prompt", "base", "hires", "old", "expected"), HIRES_SCHEDULES)
def test_hires_and_old_scheduling(prompt, base, hires, old, expected):
    assert get_learned_conditioning_prompt_schedules([prompt], base, hires, old) == [expected]


def test_schedules_follow_prompt_order_and_share_duplicates():
    schedules = get_learned_conditioning_prompt_schedules(["[a:b:2]", "c", "[a:b:2]"], 4)
    assert schedules == [[[2, "a"], [4, "b"]], [[4, "c"]], [[2, "a"], [4, "b"]]]
    assert schedules[0] is schedules[2]


class FakeModel:
    """Encodes each text to rows code * 100 + token index, code numbering texts in order of first sight."""

    def __init__(self, tokens=77, dim=4, as_dict=False):
        self.tokens, self.dim, self.as_dict = tokens, dim, as_dict
        self.codes = {}
        self.calls = []

    def encode(self, text):
        code = self.codes.setdefault(text, len(self.codes) + 1)
        return (code * 100 + torch.arange(self.tokens, dtype=torch.float32))[:, None].repeat(1, self.dim)

    def vector(self, text):
        return torch.full((3,), float(self.codes[text]))

    def get_learned_conditioning(self, texts):
        self.calls.append(texts)
        crossattn = torch.stack([self.encode(text) for text in texts])
        if self.as_dict:
            return {"crossattn": crossattn, "vector": torch.stack([self.vector(text) for text in texts])}
        return crossattn


CROWNS = ["a red crown", "a [blue:green:5] jeweled crown", "a red crown"]


def test_learned_conditioning_encodes_all_texts_in_one_call():
    model = FakeModel()
    conds = get_learned_conditioning(model, CROWNS, 20)

    assert model.calls == [["a red crown", "a blue jeweled crown", "a green jeweled crown"]]
    assert conds[0] is conds[2]
    assert [entry.end_at_step for entry in conds[0]] == [20]
    assert [entry.end_at_step for entry in conds[1]] == [5, 20]
    assert torch.equal(conds[0][0].cond, model.encode("a red crown"))
    assert torch.equal(conds[1][0].cond, model.encode("a blue jeweled crown"))
    assert torch.equal(conds[1][1].cond, model.encode("a green jeweled crown"))


def test_learned_conditioning_passes_hires_scheduling():
    conds = get_learned_conditioning(FakeModel(), ["a [b:1.5] c"], 10, hires_steps=20)
    assert [entry.end_at_step for entry in conds[0]] == [10, 20]


def test_learned_conditioning_texts_carry_size_and_polarity():
    model = FakeModel()
    get_learned_conditioning(model, SdConditioning(["a [b|c]"], width=1024, height=768, is_negative_prompt=True), 2)
    get_learned_conditioning(model, ["d"], 2)

    sized, plain = model.calls
    assert isinstance(sized, SdConditioning) and sized == ["a b", "a c"]
    assert (sized.width, sized.height, sized.is_negative_prompt) == (1024, 768, True)
    assert isinstance(plain, SdConditioning)
    assert (plain.width, plain.height, plain.is_negative_prompt) == (None, None, False)


def test_sd_conditioning_explicit_values_win_over_copied_ones():
    source = SdConditioning(["x"], width=512, height=512)
    copy = SdConditioning(["y"], height=640, is_negative_prompt=True, copy_from=source)
    assert copy == ["y"]
    assert (copy.width, copy.height, copy.is_negative_prompt) == (512, 640, True)


def test_learned_conditioning_splits_dict_conds_into_rows():
    model = FakeModel(as_dict=True)
    conds = get_learned_conditioning(model, ["[a:b:1]"], 4)

    first, second = conds[0]
    assert set(first.cond) == {"crossattn", "vector"}
    assert torch.equal(first.cond["crossattn"], model.encode("a"))
    assert torch.equal(first.cond["vector"], model.vector("a"))
    assert torch.equal(second.cond["crossattn"], model.encode("b"))
    assert torch.equal(second.cond["vector"], model.vector("b"))


@pytest.mark.parametrize(("step", "second_text"), [
    (1, "a blue jeweled crown"),
    (5, "a blue jeweled crown"),
    (6, "a green jeweled crown"),
    (20, "a green jeweled crown"),
    (21, "a green jeweled crown"),
])
def test_reconstruct_cond_batch_picks_active_conds(step, second_text):
    model = FakeModel()
    batch = reconstruct_cond_batch(get_learned_conditioning(model, CROWNS, 20), step)

    assert batch.shape == (3, 77, 4)
    assert torch.equal(batch[0], model.encode("a red crown"))
    assert torch.equal(batch[1], model.encode(second_text))
    assert torch.equal(batch[2], model.encode("a red crown"))


def test_reconstruct_cond_batch_pads_shorter_rows_with_their_last_token():
    short, long = FakeModel(tokens=77).encode("short"), FakeModel(tokens=154).encode("long")
    schedules = [[ScheduledPromptConditioning(10, short)], [ScheduledPromptConditioning(10, long)]]
    batch = reconstruct_cond_batch(schedules, 1)

    assert batch.shape == (2, 154, 4)
    assert torch.equal(batch[0, :77], short)
    assert torch.equal(batch[0, 77:], short[-1].expand(77, 4))
    assert torch.equal(batch[1], long)


def test_reconstruct_cond_batch_pads_dict_crossattn_only():
    short = {"crossattn": FakeModel(tokens=77).encode("short"), "vector": torch.full((3,), 1.0)}
    long = {"crossattn": FakeModel(tokens=154).encode("long"), "vector": torch.full((3,), 2.0)}
    schedules = [[ScheduledPromptConditioning(10, short)], [ScheduledPromptConditioning(10, long)]]
    batch = reconstruct_cond_batch(schedules, 1)

    assert isinstance(batch, DictWithShape)
    assert batch.shape == (2, 154, 4)
    assert torch.equal(batch["crossattn"][0, 77:], short["crossattn"][-1].expand(77, 4))
    assert torch.equal(batch["crossattn"][1], long["crossattn"])
    assert torch.equal(batch["vector"], torch.tensor([[1.0] * 3, [2.0] * 3]))


def test_stack_conds_keeps_equal_rows_as_they_are():
    rows = [torch.randn(5, 2), torch.randn(5, 2)]
    assert torch.equal(stack_conds(rows), torch.stack(rows))


def test_dict_with_shape_reports_crossattn_shape():
    cond = DictWithShape({"crossattn": torch.zeros(2, 77, 8), "vector": torch.zeros(2, 5)}, (9, 9))
    assert cond.shape == (2, 77, 8)
    assert set(cond) == {"crossattn", "vector"}
