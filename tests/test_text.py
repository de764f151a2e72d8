"""The one cleaning function for text from outside (oauthcli.text.clean)."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from oauthcli.text import clean, has_controls, is_header_safe


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("plain text", "plain text"),
        ("\x1b[31mred\x1b[0m", "red"),  # CSI colour
        ("\x1b]0;pwned title\x07after", "after"),  # OSC window title (BEL)
        ("\x1b]8;;http://evil/\x1b\\link\x1b]8;;\x1b\\", "link"),  # OSC 8 hyperlink (ST)
        ("\x9b2Jcleared", "cleared"),  # C1 CSI
        ("abc\u202eevil\u202cdef", "abcevildef"),  # bidi override
        ("x\u2066y\u2069z\u200f", "xyz"),  # isolates, RLM
        ("a\r\nb\tc", "a b c"),
        ("nul\x00byte", "nulbyte"),
        ("lone \ud800 surrogate", "lone \ufffd surrogate"),
    ],
)
def test_clean_removes_what_a_terminal_would_obey(raw, shown):
    assert clean(raw) == shown


def test_clean_keeps_lines_when_asked_and_caps_length():
    assert clean("a\n\x1b[1mb\x1b[0m\tc", None, keep_lines=True) == "a\nb\tc"
    assert clean("x" * 600) == "x" * 499 + "…"


def test_clean_masks_secrets_also_when_controls_split_them():
    assert clean("pass is hun\x1b[0mter2", secrets=["hunter2"]) == "pass is ***"
    assert clean("echo p%40ss+word", secrets=["p@ss word"]) == "echo ***"


@given(st.text())
def test_clean_output_never_holds_controls(text):
    out = clean(text, None)
    assert not has_controls(out)
    assert "\x1b" not in out
    out.encode("utf-8")  # no lone surrogates survive


def test_header_safe():
    assert is_header_safe("eyJ.abc-_~")
    assert not is_header_safe("a b")
    assert not is_header_safe("a\r\nX-Evil: 1")
    assert not is_header_safe("")


@given(st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E)))
def test_printable_ascii_is_shown_as_is(text):
    # clean() skips its patterns for such text: nothing in it may need removing
    assert clean(text, None) == text
    assert not has_controls(text)


@given(st.text(alphabet=st.characters(max_codepoint=0x7F)))
def test_any_ascii_control_is_removed(text):
    shown = clean(text, None)
    assert shown.isprintable()
    assert has_controls(text) is (not text.isprintable())
