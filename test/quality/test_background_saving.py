"""BackgroundSaver: saves run in order on one thread, in the context they were submitted from; leaving the block waits
for them and raises the first error, unless the block is already raising."""

import contextvars
import logging
import threading

import pytest

from modules.background_saving import BackgroundSaver

submitted_in = contextvars.ContextVar("submitted in", default="nowhere")


def test_saves_run_in_order_on_another_thread_in_the_submitters_context():
    seen = []

    def save(number):
        seen.append((number, submitted_in.get(), threading.current_thread() is not threading.main_thread()))

    with BackgroundSaver() as saver:
        for number in range(5):
            submitted_in.set(f"batch {number}")
            saver.submit(save, number)
    assert seen == [(number, f"batch {number}", True) for number in range(5)]


def test_leaving_the_block_raises_the_first_error_and_logs_the_others(caplog):
    both_submitted = threading.Event()

    def fail(message):
        both_submitted.wait(timeout=10)
        raise ValueError(message)

    with pytest.raises(ValueError, match="first"), caplog.at_level(logging.ERROR):
        with BackgroundSaver() as saver:
            saver.submit(fail, "first")
            saver.submit(fail, "second")
            both_submitted.set()
    assert "second" in caplog.text


def test_an_error_of_the_block_is_not_hidden_by_a_save_error(caplog):
    def fail():
        raise OSError("disk full")

    with pytest.raises(KeyError), caplog.at_level(logging.ERROR):
        with BackgroundSaver() as saver:
            saver.submit(fail)
            raise KeyError("the generation's own error")
    assert "disk full" in caplog.text


def test_a_saver_given_nothing_starts_no_thread():
    before = threading.active_count()
    with BackgroundSaver():
        assert threading.active_count() == before


def test_a_failed_save_stops_the_next_submit_instead_of_waiting_for_the_end():
    def fail():
        raise ValueError("EXIF data is too long")

    saver = BackgroundSaver()
    saver.submit(fail)
    while not saver._pending[0].done():
        threading.Event().wait(0.01)
    with pytest.raises(ValueError, match="EXIF"):
        saver.submit(print, "the next image")
