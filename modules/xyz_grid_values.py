"""X/Y/Z plot axis values as A1111 writes them: CSV lists ("a, "b, c"") and numeric ranges ("1-5", "1-5 (+2)",
"1-10 [5]"), turned into typed values. Errors are ValueErrors naming the axis and the value.

One axis has at most MAX_AXIS_VALUES values (ranges and "Prompt order" permutations included): a range such as
"1-1000000000" is refused before it is expanded."""

import csv
import math
import re
from io import StringIO
from itertools import chain, permutations

import numpy as np

re_range = re.compile(r"\s*([+-]?\s*\d+)\s*-\s*([+-]?\s*\d+)(?:\s*\(([+-]\d+)\s*\))?\s*")
re_range_float = re.compile(r"\s*([+-]?\s*\d+(?:\.\d*)?)\s*-\s*([+-]?\s*\d+(?:\.\d*)?)(?:\s*\(([+-]\d+(?:\.\d*)?)\s*\))?\s*")
re_range_count = re.compile(r"\s*([+-]?\s*\d+)\s*-\s*([+-]?\s*\d+)(?:\s*\[(\d+)\s*\])?\s*")
re_range_count_float = re.compile(r"\s*([+-]?\s*\d+(?:\.\d*)?)\s*-\s*([+-]?\s*\d+(?:\.\d*)?)(?:\s*\[(\d+(?:\.\d*)?)\s*\])?\s*")


MAX_AXIS_VALUES = 1000


class TooManyValues(ValueError):
    pass


def check_value_count(count: int, what: str) -> None:
    if count > MAX_AXIS_VALUES:
        raise TooManyValues(f"{what} gives {count} values, more than the limit of {MAX_AXIS_VALUES} per axis")


def str_permutations(x):
    """The axis type of "Prompt order": its values become every ordering of the listed prompt parts."""
    return x


def list_to_csv_string(data_list) -> str:
    with StringIO() as out:
        csv.writer(out).writerow(data_list)
        return out.getvalue().strip()


def csv_string_to_list_strip(data_str: str) -> list[str]:
    return list(map(str.strip, chain.from_iterable(csv.reader(StringIO(data_str), skipinitialspace=True))))


def _number(text: str, kind):
    return kind(text.replace(" ", ""))


def _int_range(start: int, stop: int, step: int) -> list[int]:
    """start..stop inclusive, walking by step."""
    if step == 0:
        raise ValueError("a range step of 0")
    check_value_count(max(0, (stop - start) // step + 1), f"the range {start}-{stop} ({step:+d})")
    return list(range(start, stop + (1 if step > 0 else -1), step))


def expand_int_ranges(values: list[str]) -> list:
    expanded = []
    for value in values:
        stepped, counted = re_range.fullmatch(value), re_range_count.fullmatch(value)
        if stepped is not None:
            step = _number(stepped.group(3), int) if stepped.group(3) is not None else 1
            expanded += _int_range(_number(stepped.group(1), int), _number(stepped.group(2), int), step)
        elif counted is not None:
            count = int(counted.group(3)) if counted.group(3) is not None else 1
            check_value_count(count, f"the range {value!r}")
            expanded += [int(x) for x in np.linspace(_number(counted.group(1), int), _number(counted.group(2), int),
                                                     num=count).tolist()]
        else:
            expanded.append(value)
        check_value_count(len(expanded), "the list")
    return expanded


def expand_float_ranges(values: list[str]) -> list:
    expanded = []
    for value in values:
        stepped, counted = re_range_float.fullmatch(value), re_range_count_float.fullmatch(value)
        if stepped is not None:
            start, stop = _number(stepped.group(1), float), _number(stepped.group(2), float)
            step = _number(stepped.group(3), float) if stepped.group(3) is not None else 1.0
            if step == 0:
                raise ValueError("a range step of 0")
            span = (stop + step - start) / step
            if not math.isfinite(span):
                raise ValueError("a range too large to count")
            check_value_count(max(0, math.ceil(span)), f"the range {value!r}")
            expanded += np.arange(start, stop + step, step).tolist()
        elif counted is not None:
            count = int(float(counted.group(3))) if counted.group(3) is not None else 1
            check_value_count(count, f"the range {value!r}")
            expanded += np.linspace(_number(counted.group(1), float), _number(counted.group(2), float),
                                    num=count).tolist()
        else:
            expanded.append(value)
        check_value_count(len(expanded), "the list")
    return expanded


_TYPE_NAMES = {int: "an integer", float: "a number"}


def typed_values(values: list, value_type, axis_name: str) -> list:
    """Ranges expanded for numeric axes, permutations for "Prompt order", then each value converted to the type."""
    try:
        if value_type is int:
            values = expand_int_ranges(values)
        elif value_type is float:
            values = expand_float_ranges(values)
        elif value_type is str_permutations:
            check_value_count(len(values), "the list")
            check_value_count(math.factorial(len(values)), f"ordering {len(values)} prompt parts")
            values = list(permutations(values))
        check_value_count(len(values), "the list")
    except TooManyValues as e:
        raise ValueError(f"{axis_name}: {e}") from e
    except (ValueError, OverflowError, TypeError) as e:
        raise ValueError(f"{axis_name}: bad range in {values!r}: {e}") from e
    converted = []
    for value in values:
        try:
            converted.append(value_type(value))
        except (TypeError, ValueError) as e:
            expected = _TYPE_NAMES.get(value_type, value_type.__name__)
            raise ValueError(f"{axis_name}: invalid value {value!r} (expected {expected})") from e
    return converted
